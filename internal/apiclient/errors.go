package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Sentinel errors matched with errors.Is against an *Error by HTTP status.
var (
	ErrUnauthorized = errors.New("unauthorized") // 401
	ErrForbidden    = errors.New("forbidden")    // 403
	ErrNotFound     = errors.New("not found")    // 404
)

// Error is the error of every Client call that reached the point of sending
// a request. It never holds a secret: no header, no request body.
type Error struct {
	// Op names the call ("push alerts").
	Op string
	// Method and Path of the request (path without query).
	Method, Path string
	// Status is the HTTP status, 0 when no answer was read.
	Status int
	// Message is the LAPI's ErrorResponse message (or a prefix of a
	// non-JSON body), "" if none.
	Message string
	// Attempts is how many times the request was sent.
	Attempts int
	// Err is the underlying transport or decoding error, if any.
	Err error

	retryable  bool
	retryAfter time.Duration
}

// Error implements error: "apiclient: push alerts: POST /v1/alerts: 503: message".
func (e *Error) Error() string {
	s := "apiclient: " + e.Op + ": " + e.Method + " " + e.Path
	if e.Status != 0 {
		s += ": " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Attempts > 1 {
		s += " (after " + strconv.Itoa(e.Attempts) + " attempts)"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrUnauthorized, ErrForbidden and ErrNotFound by status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	}
	return false
}

// Retryable reports whether trying the same call again later may succeed.
func (e *Error) Retryable() bool { return e.retryable }

// IsRetryable reports whether err is worth retrying: network errors and
// timeouts of one attempt, HTTP 5xx and 429 are; HTTP 4xx, TLS certificate
// errors, malformed answers, bad configuration and the caller's own context
// cancellation are not. Client calls have already retried retryable errors
// as their RetryConfig allows; a caller with its own queue (the agent's alert
// spool) uses IsRetryable to decide between keeping and dropping the work.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.retryable
	}
	return false
}

// RetryAfter returns the wait the LAPI asked for (Retry-After) in the answer
// carried by err, 0 if none.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.retryAfter
	}
	return 0
}

// StatusCode returns the HTTP status carried by err, 0 if none.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// retryableTransport classifies an error of sending a request or reading its
// answer. ctxErr is the caller's context error: when the caller gave up,
// nothing is retryable.
func retryableTransport(err error, ctxErr error) bool {
	if ctxErr != nil {
		return false
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		alert            tls.AlertError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &verify),
		errors.As(err, &record), errors.As(err, &alert):
		return false
	case isRemoteTLSAlert(err):
		// The server refused the handshake (client certificate missing,
		// unknown or revoked): the same request will be refused again.
		return false
	case errors.Is(err, context.DeadlineExceeded): // this attempt's own timeout
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func configError(op string, err error) error {
	return fmt.Errorf("apiclient: %s: %w", op, err)
}

// isRemoteTLSAlert reports a TLS alert sent by the peer during the handshake.
func isRemoteTLSAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
