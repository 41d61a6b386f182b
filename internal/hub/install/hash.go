package install

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// hashWriter writes through to w and hashes what passes.
type hashWriter struct {
	w io.Writer
	h hash.Hash
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	if hw.h == nil {
		hw.h = sha256.New()
	}
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	return n, err
}

func (hw *hashWriter) sum() string {
	if hw.h == nil {
		hw.h = sha256.New()
	}
	return hex.EncodeToString(hw.h.Sum(nil))
}
