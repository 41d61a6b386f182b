package email_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // CRAM-MD5 is MD5 by definition
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/email"
	"github.com/phalanx-ids/phalanx/internal/notify/notifytest"
	"github.com/phalanx-ids/phalanx/internal/notify/outbound"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// received is one mail as the SMTP server got it.
type received struct {
	from   string
	to     []string
	data   []byte
	tls    bool
	user   string // authenticated user
	mech   string
	helo   string
	remote string
}

// mailServer is a real SMTP server (emersion/go-smtp) on loopback, with
// STARTTLS or implicit TLS, and AUTH PLAIN, LOGIN and CRAM-MD5.
type mailServer struct {
	host     string
	port     int
	user     string
	pass     string
	rcptCode int // RCPT answer: 0 accepts
	mu       sync.Mutex
	mails    []received
}

type serverOpts struct {
	tls      *tls.Config
	implicit bool // TLS from the first byte (ssltls), else STARTTLS when tls is set
	rcptCode int
}

func startServer(t *testing.T, o serverOpts) *mailServer {
	t.Helper()
	ms := &mailServer{host: "127.0.0.1", user: "alerts@example.net", pass: "s3cret-pw", rcptCode: o.rcptCode}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{ms: ms, c: c}, nil
	}))
	s.Domain = "mx.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = testLog{t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if o.tls != nil && o.implicit {
		ln = tls.NewListener(ln, o.tls)
	} else {
		s.TLSConfig = o.tls
	}
	ms.port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

type testLog struct{ t *testing.T }

func (l testLog) Printf(f string, v ...any) { l.t.Logf(f, v...) }
func (l testLog) Println(v ...any)          { l.t.Log(v...) }

func (ms *mailServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.mails...)
}

type session struct {
	ms   *mailServer
	c    *smtp.Conn
	cur  received
	user string
	mech string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login, "CRAM-MD5"} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.ms.user || pass != s.ms.pass {
			return smtp.ErrAuthFailed
		}
		s.user, s.mech = user, mech
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{ms: s.ms, done: func(user string) { s.user, s.mech = user, mech }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = received{from: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if c := s.ms.rcptCode; c != 0 {
		return &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{c / 100, 1, 1}, Message: "recipient refused (test)"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.cur.data, s.cur.tls, s.cur.user, s.cur.mech, s.cur.helo = b, isTLS, s.user, s.mech, s.c.Hostname()
	s.cur.remote = s.c.Conn().RemoteAddr().String()
	s.ms.mu.Lock()
	s.ms.mails = append(s.ms.mails, s.cur)
	s.ms.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (not in go-sasl).
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if resp != nil { // initial response: the username
			l.user, l.step = string(resp), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

// cramServer is the server side of AUTH CRAM-MD5 (RFC 2195).
type cramServer struct {
	ms        *mailServer
	challenge string
	done      func(user string)
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = fmt.Sprintf("<%d.%d@mx.test>", time.Now().UnixNano(), 42)
		return []byte(c.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	mac := hmac.New(md5.New, []byte(c.ms.pass))
	mac.Write([]byte(c.challenge))
	if !ok || user != c.ms.user || digest != hex.EncodeToString(mac.Sum(nil)) {
		return nil, true, smtp.ErrAuthFailed
	}
	c.done(user)
	return nil, true, nil
}

// serverTLS is a TLS configuration with a certificate from a test CA.
func serverTLS(t *testing.T) (*tls.Config, *testutil.PKI) {
	pki := testutil.NewPKI(t)
	pair := pki.Server(t, "mx")
	return &tls.Config{Certificates: []tls.Certificate{pair.Cert}, MinVersion: tls.VersionTLS12}, pki
}

func config(ms *mailServer, enc, auth string, ca string) *email.Config {
	return &email.Config{
		CommonConfig: notify.CommonConfig{Name: "mail"},
		SMTPHost:     ms.host, SMTPPort: ms.port, SMTPUsername: ms.user, SMTPPassword: ms.pass,
		AuthType: auth, EncryptionType: enc, SenderEmail: "phalanx@example.net", SenderName: "Phalanx Sensor",
		ReceiverEmails: []string{"soc@example.net", "Night Shift <oncall@example.net>"},
		EmailSubject:   "Alertes Phalanx — sévère", HeloHost: "sensor-1.example.net",
		TLS: outbound.TLS{CAPath: ca},
	}
}

func send(t *testing.T, cfg *email.Config, body string) (bool, error) {
	t.Helper()
	return notifytest.Once(t, email.New, cfg, body)
}

const body = "<html><body>\n<p>192.0.2.1 will get <b>ban</b> for 4h — ça marche.</p>\n" +
	"<p>a line long enough to be folded by quoted-printable encoding, which wraps at seventy-six characters per line</p>\n.\n</body></html>\n"

// checkMail asserts the message as a mail reader would see it.
func checkMail(t *testing.T, m received) {
	t.Helper()
	require.Equal(t, "phalanx@example.net", m.from)
	require.Equal(t, []string{"soc@example.net", "oncall@example.net"}, m.to)
	require.Equal(t, "sensor-1.example.net", m.helo)
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	require.NoError(t, err)
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	require.NoError(t, err)
	require.Equal(t, "Phalanx Sensor", from.Name)
	to, err := msg.Header.AddressList("To")
	require.NoError(t, err)
	require.Len(t, to, 2)
	require.Equal(t, "Night Shift", to[1].Name)
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "Alertes Phalanx — sévère", subj)
	require.Equal(t, "text/html; charset=UTF-8", msg.Header.Get("Content-Type"))
	require.Equal(t, "quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
	require.NotEmpty(t, msg.Header.Get("Message-ID"))
	_, err = msg.Header.Date()
	require.NoError(t, err)
	got, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	require.Equal(t, strings.ReplaceAll(body, "\n", "\r\n"), string(got))
}

func TestSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	tc, pki := serverTLS(t)
	ms := startServer(t, serverOpts{tls: tc})
	for _, auth := range []struct{ conf, mech string }{
		{email.AuthPlain, sasl.Plain}, {email.AuthLogin, sasl.Login}, {email.AuthCRAMMD5, "CRAM-MD5"},
	} {
		retry, err := send(t, config(ms, email.EncSTARTTLS, auth.conf, pki.CAFile), body)
		require.NoError(t, err, auth.conf)
		require.False(t, retry)
		got := ms.received()
		m := got[len(got)-1]
		require.True(t, m.tls, "sent after STARTTLS")
		require.Equal(t, ms.user, m.user)
		require.Equal(t, auth.mech, m.mech)
		checkMail(t, m)
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	tc, pki := serverTLS(t)
	ms := startServer(t, serverOpts{tls: tc, implicit: true})
	_, err := send(t, config(ms, email.EncSSLTLS, email.AuthLogin, pki.CAFile), body)
	require.NoError(t, err)
	m := ms.received()[0]
	require.True(t, m.tls)
	require.Equal(t, sasl.Login, m.mech)
	checkMail(t, m)
}

func TestPlainConnection(t *testing.T) {
	t.Parallel()
	ms := startServer(t, serverOpts{})
	_, err := send(t, config(ms, email.EncNone, email.AuthNone, ""), body)
	require.NoError(t, err)
	m := ms.received()[0]
	require.False(t, m.tls)
	require.Empty(t, m.user)
	checkMail(t, m)
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	tc, pki := serverTLS(t)
	for _, c := range []struct {
		name  string
		srv   serverOpts
		cfg   func(*email.Config)
		retry bool
		want  string
	}{
		{"temporary recipient failure (4xx)", serverOpts{tls: tc, rcptCode: 451}, nil, true, "451"},
		{"permanent recipient failure (5xx)", serverOpts{tls: tc, rcptCode: 550}, nil, false, "550"},
		{"wrong password", serverOpts{tls: tc}, func(c *email.Config) { c.SMTPPassword = "wrong-pw" }, false, "535"},
		{"no STARTTLS offered", serverOpts{}, nil, false, "does not offer STARTTLS"},
		{"untrusted certificate", serverOpts{tls: tc}, func(c *email.Config) { c.TLS.CAPath = "" }, false, "certificate"},
		{"AUTH refused unencrypted", serverOpts{}, func(c *email.Config) { c.EncryptionType = email.EncNone }, false, "does not offer AUTH"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ms := startServer(t, c.srv)
			cfg := config(ms, email.EncSTARTTLS, email.AuthPlain, pki.CAFile)
			if c.cfg != nil {
				c.cfg(cfg)
			}
			retry, err := send(t, cfg, body)
			require.ErrorContains(t, err, c.want)
			require.Equal(t, c.retry, retry, "%v", err)
			require.NotContains(t, err.Error(), ms.pass, "the password is never shown")
			require.Empty(t, ms.received())
		})
	}
	t.Run("nobody listening", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		require.NoError(t, ln.Close())
		cfg := config(&mailServer{host: "127.0.0.1", port: port}, email.EncNone, email.AuthNone, "")
		retry, err := send(t, cfg, body)
		require.ErrorContains(t, err, "connect 127.0.0.1:"+strconv.Itoa(port))
		require.True(t, retry)
	})
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	ok := func() *email.Config {
		return &email.Config{SMTPHost: "mx", ReceiverEmails: []string{"a@b.c"}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*email.Config)
		want string
	}{
		{"CrowdSec's empty default", func(c *email.Config) { c.SMTPHost = "" }, "smtp_host: missing"},
		{"no receivers", func(c *email.Config) { c.ReceiverEmails = nil }, "receiver_emails: missing"},
		{"bad receiver", func(c *email.Config) { c.ReceiverEmails = []string{"not an address"} }, "receiver_emails"},
		{"bad encryption", func(c *email.Config) { c.EncryptionType = "tls" }, `encryption_type "tls"`},
		{"bad auth", func(c *email.Config) { c.AuthType = "oauth" }, `auth_type "oauth"`},
		{"header injection", func(c *email.Config) { c.EmailSubject = "hi\r\nBcc: x@y.z" }, "email_subject: must be one line"},
		{"bad port", func(c *email.Config) { c.SMTPPort = 70000 }, "smtp_port 70000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.mod(c)
			_, err := email.New(c, notify.Deps{})
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := email.New(ok(), notify.Deps{})
	require.NoError(t, err, "CrowdSec's defaults fill the rest")
}
