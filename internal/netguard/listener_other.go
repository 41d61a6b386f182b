//go:build !linux

package netguard

import (
	"net"
	"os"
	"syscall"
)

// rawListener: elsewhere connections are accepted through net.
func rawListener(net.Listener) (*os.File, syscall.RawConn) { return nil, nil }

func (ln *limitListener) acceptRaw() (net.Conn, error) { panic("netguard: raw accept on this system") }
