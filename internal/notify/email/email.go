// Package email is the `email` notifier (ID notify.email): the format's
// output is the HTML body of a mail sent over SMTP, with CrowdSec's email
// plugin keys: smtp_host, smtp_port, smtp_username, smtp_password,
// auth_type (none, plain, login, crammd5), sender_email, sender_name,
// receiver_emails, email_subject, encryption_type (ssltls, starttls, none),
// helo_host, connect_timeout, send_timeout; plus ca_cert_path,
// skip_tls_verification, cert_path and key_path for the server's
// certificate.
package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/outbound"
)

// ID of the module; the `type` is "email".
const ID = notify.IDPrefix + "email"

// DefaultFormat is an HTML paragraph per decision.
const DefaultFormat = `<html><body>
{{range . -}}{{$a := . -}}{{range .Decisions -}}
<p>{{.Value | HTMLEscape}} will get <b>{{.Type | HTMLEscape}}</b> for {{.Duration | HTMLEscape}} for triggering <b>{{.Scenario | HTMLEscape}}</b> on machine <b>{{$a.MachineID | HTMLEscape}}</b>.</p>
{{end -}}{{end -}}
</body></html>`

// Values of auth_type and encryption_type.
const (
	AuthNone    = "none"
	AuthPlain   = "plain"
	AuthLogin   = "login"
	AuthCRAMMD5 = "crammd5"

	EncSSLTLS   = "ssltls"
	EncSTARTTLS = "starttls"
	EncNone     = "none"
)

// Config is the YAML configuration of an email notification. An empty key
// takes CrowdSec's default (see withDefaults), except the port: 465 for
// ssltls, 587 for starttls, 25 without encryption.
type Config struct {
	notify.CommonConfig `yaml:",inline"`
	SMTPHost            string        `yaml:"smtp_host"`
	SMTPPort            int           `yaml:"smtp_port"`
	SMTPUsername        string        `yaml:"smtp_username"`
	SMTPPassword        string        `yaml:"smtp_password" notify:"secret"`
	AuthType            string        `yaml:"auth_type"`
	SenderEmail         string        `yaml:"sender_email"`
	SenderName          string        `yaml:"sender_name"`
	ReceiverEmails      []string      `yaml:"receiver_emails"`
	EmailSubject        string        `yaml:"email_subject"`
	EncryptionType      string        `yaml:"encryption_type"`
	HeloHost            string        `yaml:"helo_host"`
	ConnectTimeout      time.Duration `yaml:"connect_timeout"`
	SendTimeout         time.Duration `yaml:"send_timeout"`
	outbound.TLS        `yaml:",inline"`
}

// Module returns the email notifier module.
func Module() notify.Module {
	return notify.Define(ID, DefaultFormat, func() *Config { return &Config{} }, New)
}

// Notifier sends mails through one SMTP server.
type Notifier struct {
	cfg  Config
	addr string
	from mail.Address
	to   []mail.Address
	tls  *tls.Config
	now  func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks cfg and builds the notifier (TLS files are read now; the
// server is not contacted).
//
// Retry policy: retryable: no connection, timeouts, a connection cut, and
// 4xx SMTP replies (temporary failures, greylisting). Not retryable: 5xx
// replies (authentication refused, a recipient refused, message
// rejected), a server without STARTTLS when starttls is asked for,
// authentication offered over an unencrypted connection to a remote host,
// TLS verification errors.
func New(cfg *Config, _ notify.Deps) (*Notifier, error) {
	cfg = withDefaults(*cfg)
	n := &Notifier{cfg: *cfg, now: time.Now}
	if cfg.SMTPHost == "" {
		return nil, errors.New("smtp_host: missing")
	}
	switch cfg.EncryptionType {
	case EncSSLTLS, EncSTARTTLS, EncNone:
	default:
		return nil, fmt.Errorf("encryption_type %q: want ssltls, starttls or none", cfg.EncryptionType)
	}
	switch cfg.AuthType {
	case AuthNone, AuthPlain, AuthLogin, AuthCRAMMD5:
	default:
		return nil, fmt.Errorf("auth_type %q: want none, plain, login or crammd5", cfg.AuthType)
	}
	port := cfg.SMTPPort
	if port == 0 {
		port = map[string]int{EncSSLTLS: 465, EncSTARTTLS: 587, EncNone: 25}[cfg.EncryptionType]
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp_port %d: not a port", cfg.SMTPPort)
	}
	n.addr = net.JoinHostPort(cfg.SMTPHost, strconv.Itoa(port))
	if len(cfg.ReceiverEmails) == 0 {
		return nil, errors.New("receiver_emails: missing")
	}
	from, err := mail.ParseAddress(cfg.SenderEmail)
	if err != nil {
		return nil, fmt.Errorf("sender_email %q: %w", cfg.SenderEmail, err)
	}
	n.from = mail.Address{Name: cfg.SenderName, Address: from.Address}
	for _, r := range cfg.ReceiverEmails {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("receiver_emails: %q: %w", r, err)
		}
		n.to = append(n.to, *a)
	}
	for k, v := range map[string]string{"email_subject": cfg.EmailSubject, "sender_name": cfg.SenderName, "helo_host": cfg.HeloHost} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%s: must be one line", k)
		}
	}
	if n.tls, err = cfg.TLS.Config(cfg.SMTPHost); err != nil {
		return nil, err
	}
	return n, nil
}

// withDefaults fills the empty keys (CrowdSec's default file leaves most
// of them empty).
func withDefaults(c Config) *Config {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.AuthType, AuthLogin)
	def(&c.EncryptionType, EncSSLTLS)
	def(&c.HeloHost, "localhost")
	def(&c.SenderEmail, "phalanx@localhost")
	def(&c.EmailSubject, "Phalanx notification")
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 10 * time.Second
	}
	return &c
}

// smtpErr classifies an error of the SMTP exchange (see New): a reply by
// its code, a network error as retryable, anything else (a refusal of the
// client library: password over an unencrypted link...) as not.
func smtpErr(step string, err error) (bool, error) {
	wrapped := fmt.Errorf("email: %s: %w", step, err)
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 400 && te.Code < 500, wrapped
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return outbound.TransportRetryable(err), wrapped
	}
	return false, wrapped
}

// Send delivers one mail (see New for the retry policy).
func (n *Notifier) Send(ctx context.Context, msg notify.Message) (bool, error) {
	d := net.Dialer{Timeout: n.cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", n.addr)
	if err != nil {
		return smtpErr("connect "+n.addr, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(n.cfg.ConnectTimeout + n.cfg.SendTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	raw := conn
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) }) // unblock on cancel
	defer stop()
	if n.cfg.EncryptionType == EncSSLTLS {
		tc := tls.Client(conn, n.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return smtpErr("tls", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, n.cfg.SMTPHost)
	if err != nil {
		return smtpErr("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(n.cfg.HeloHost); err != nil {
		return smtpErr("helo", err)
	}
	if n.cfg.EncryptionType == EncSTARTTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return false, fmt.Errorf("email: %s does not offer STARTTLS (encryption_type: starttls)", n.addr)
		}
		if err := c.StartTLS(n.tls); err != nil {
			return smtpErr("starttls", err)
		}
	}
	if a := n.auth(); a != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return false, fmt.Errorf("email: %s does not offer AUTH (auth_type: %s)", n.addr, n.cfg.AuthType)
		}
		if err := c.Auth(a); err != nil {
			return smtpErr("auth", err)
		}
	}
	if err := c.Mail(n.from.Address); err != nil {
		return smtpErr("mail from", err)
	}
	for _, r := range n.to {
		if err := c.Rcpt(r.Address); err != nil {
			return smtpErr("rcpt to "+r.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("data", err)
	}
	if _, err := w.Write(n.message(msg.Text)); err != nil {
		return smtpErr("data", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("data", err)
	}
	// The server accepted the message at the end of DATA: delivered,
	// whatever QUIT answers.
	_ = c.Quit()
	return false, nil
}

// auth returns the SASL mechanism to use, nil for none.
func (n *Notifier) auth() smtp.Auth {
	if n.cfg.AuthType == AuthNone || n.cfg.SMTPUsername == "" {
		return nil
	}
	switch n.cfg.AuthType {
	case AuthPlain:
		return smtp.PlainAuth("", n.cfg.SMTPUsername, n.cfg.SMTPPassword, n.cfg.SMTPHost)
	case AuthCRAMMD5:
		return smtp.CRAMMD5Auth(n.cfg.SMTPUsername, n.cfg.SMTPPassword)
	}
	return &loginAuth{user: n.cfg.SMTPUsername, pass: n.cfg.SMTPPassword, host: n.cfg.SMTPHost}
}

// message builds the mail: headers, then the HTML body quoted-printable.
func (n *Notifier) message(body string) []byte {
	var b bytes.Buffer
	to := make([]string, len(n.to))
	for i, a := range n.to {
		to[i] = a.String()
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	hdr := [][2]string{
		{"From", n.from.String()},
		{"To", strings.Join(to, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", n.cfg.EmailSubject)},
		{"Date", n.now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id) + "@" + n.cfg.HeloHost + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/html; charset=UTF-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	}
	for _, h := range hdr {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(body))
	_ = qp.Close()
	return b.Bytes()
}

// Close has nothing to release (a connection a message).
func (n *Notifier) Close() error { return nil }

// loginAuth is the LOGIN mechanism (not in net/smtp): the username, then
// the password, each answering the server's prompt. Like net/smtp's PLAIN
// it refuses to send them unencrypted except to localhost.
type loginAuth struct {
	user, pass, host string
	step             int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLocalhost(server.Name) {
		return "", nil, errors.New("unencrypted connection: refusing to send the password")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	prompt := strings.ToLower(strings.TrimSpace(string(fromServer)))
	switch {
	case strings.HasPrefix(prompt, "user") || (prompt == "" && a.step == 1):
		return []byte(a.user), nil
	case strings.HasPrefix(prompt, "pass") || (prompt == "" && a.step == 2):
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN prompt %q", fromServer)
}

func isLocalhost(name string) bool {
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}
