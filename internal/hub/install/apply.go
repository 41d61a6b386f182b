package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/phalanx-ids/phalanx/internal/atomicfile"
	"github.com/phalanx-ids/phalanx/internal/hub"
)

// Result is what Apply did.
type Result struct {
	Actions []Action     `json:"actions"`
	Data    []DataResult `json:"data,omitempty"`
	// DataErrors are the data files that could not be fetched: the items
	// are installed, the engine runs without those files (lookups on them
	// come back empty); running the command again retries.
	DataErrors []string `json:"data_errors,omitempty"`
}

// Apply carries a plan out. Every file to download is fetched and checked
// first: a failure there changes nothing. Then each item file, link and
// removal is applied atomically, and the data files of the items are
// fetched (their failures are listed in Result.DataErrors, not returned).
func (in *Install) Apply(ctx context.Context, p *Plan) (*Result, error) {
	res := &Result{}
	unlock, err := in.lock()
	if err != nil {
		return res, err
	}
	defer unlock()
	needNet := len(p.data) > 0
	files := map[string][]byte{}
	for _, a := range p.Actions {
		if a.Kind != Download {
			continue
		}
		needNet = true
		if err := in.needSource(); err != nil {
			return res, err
		}
		b, err := in.src.Item(ctx, a.item)
		if err != nil {
			return res, fmt.Errorf("install: %w", err)
		}
		files[a.item.Path] = b
	}
	if needNet && in.src != nil {
		if _, err := in.ensurePatterns(ctx); err != nil {
			return res, err
		}
	}
	for _, a := range p.Actions {
		switch a.Kind {
		case Download:
			dst := filepath.Join(in.HubPath(), filepath.FromSlash(a.item.Path))
			if err := atomicfile.WriteFile(dst, files[a.item.Path], 0o644); err != nil {
				return res, fmt.Errorf("install: %w", err)
			}
		case Enable:
			if err := in.link(a.item); err != nil {
				return res, err
			}
		case Disable:
			if err := os.Remove(a.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, fmt.Errorf("install: disable %s %s: %w", typeWord(a.Type), a.Name, err)
			}
		}
		res.Actions = append(res.Actions, a)
	}
	if len(p.data) > 0 {
		if err := in.fetchData(ctx, p, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// link makes the item's install path a relative symlink to its file in
// the hub cache.
func (in *Install) link(it *hub.Item) error {
	dst := filepath.Join(in.dir, it.InstallPath())
	target, err := filepath.Rel(filepath.Dir(dst), filepath.Join(in.HubPath(), filepath.FromSlash(it.Path)))
	if err != nil {
		return fmt.Errorf("install: enable %s %s: %w", typeWord(it.Type), it.Name, err)
	}
	if err := atomicfile.Symlink(target, dst); err != nil {
		return fmt.Errorf("install: enable %s %s: %w", typeWord(it.Type), it.Name, err)
	}
	return nil
}
