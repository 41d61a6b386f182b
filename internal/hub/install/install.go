// Package install manages the hub content installed under a data dir, in
// the layout a CrowdSec user recognises:
//
//	<data_dir>/hub/index.json            the cached index (hub update)
//	<data_dir>/hub/<item path>           item files as the hub lays them out,
//	                                     each checked against the index's sha256
//	<data_dir>/hub/patterns/<name>       grok pattern files hub parsers use
//	<data_dir>/hub/data.json             validators of the data files fetched
//	<data_dir>/parsers/<stage>/<file>    installed items: relative symlinks
//	<data_dir>/postoverflows/<stage>/<file>  into hub/ (CrowdSec's layout);
//	<data_dir>/scenarios/<file>          a regular file there is a local
//	<data_dir>/collections/<file>        item, or a tainted copy of a hub
//	<data_dir>/contexts/<file>           item when it bears its name
//	<data_dir>/data/<dest_file>          data files items declare (data:)
//
// An install holds no other state: what is installed, local, tainted or
// outdated is read from these files (Scan). Changes are planned first
// (PlanInstall, PlanRemove, PlanUpgrade: nothing touched, what --dry-run
// prints), then applied (Apply): every item file is downloaded and checked
// before anything is written, each file is replaced atomically, and a
// failure leaves the install as it was.
//
// Concurrency: an Install is safe for concurrent use by goroutines; Update
// and Apply take an exclusive lock on <data_dir>/hub/.lock, so two
// processes never change one install at once (the second fails at once).
package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/phalanx-ids/phalanx/internal/atomicfile"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/source"
)

// Directory and file names inside the data dir.
const (
	HubDir      = "hub"
	IndexFile   = "index.json"
	PatternsDir = "patterns"
	DataDir     = "data"
	dataState   = "data.json"
	lockFile    = ".lock"
)

// ErrNoIndex is wrapped when no index is cached yet.
var ErrNoIndex = errors.New("no hub index: run `phalanx hub update`")

// Install is the content installed under one data dir.
type Install struct {
	dir string
	src *source.Source
}

// New returns the install under dataDir, fetching from src (nil: only
// offline operations, Scan, PlanRemove and Apply of removals).
func New(dataDir string, src *source.Source) *Install {
	return &Install{dir: dataDir, src: src}
}

// Dir is the data dir.
func (in *Install) Dir() string { return in.dir }

// HubPath is the hub cache dir, <data_dir>/hub.
func (in *Install) HubPath() string { return filepath.Join(in.dir, HubDir) }

// DataPath is where data files go, <data_dir>/data.
func (in *Install) DataPath() string { return filepath.Join(in.dir, DataDir) }

// PatternsPath is where grok pattern files go, <data_dir>/hub/patterns.
func (in *Install) PatternsPath() string { return filepath.Join(in.HubPath(), PatternsDir) }

// Index reads the cached index (wrapping ErrNoIndex when there is none).
func (in *Install) Index() (*hub.Index, error) {
	p := filepath.Join(in.HubPath(), IndexFile)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("install: %w", ErrNoIndex)
	}
	idx, err := hub.Open(in.HubPath())
	if err != nil {
		return nil, fmt.Errorf("install: cached index: %w (run `phalanx hub update`)", err)
	}
	return idx, nil
}

func (in *Install) needSource() error {
	if in.src == nil {
		return errors.New("install: no hub source")
	}
	return nil
}

// UpdateResult says what Update did.
type UpdateResult struct {
	Items    int  // items of the supported types in the new index
	Changed  bool // the cached index changed
	Patterns int  // pattern files fetched
}

// Update fetches the index from the source and caches it (an index that
// does not parse is refused and the cached one kept), then fetches the
// grok pattern files that are missing or altered.
func (in *Install) Update(ctx context.Context) (UpdateResult, error) {
	var res UpdateResult
	if err := in.needSource(); err != nil {
		return res, err
	}
	unlock, err := in.lock()
	if err != nil {
		return res, err
	}
	defer unlock()
	raw, idx, err := in.src.Index(ctx)
	if err != nil {
		return res, fmt.Errorf("install: update: %w", err)
	}
	res.Items = idx.Len()
	p := filepath.Join(in.HubPath(), IndexFile)
	old, _ := os.ReadFile(p)
	if !bytes.Equal(old, raw) {
		if err := atomicfile.WriteFile(p, raw, 0o644); err != nil {
			return res, fmt.Errorf("install: update: %w", err)
		}
		res.Changed = true
	}
	res.Patterns, err = in.ensurePatterns(ctx)
	return res, err
}

// ensureIndex fetches the index when none is cached.
func (in *Install) ensureIndex(ctx context.Context) error {
	if _, err := in.Index(); errors.Is(err, ErrNoIndex) && in.src != nil {
		_, err = in.Update(ctx)
		return err
	} else if err != nil {
		return err
	}
	return nil
}

// EnsureIndex fetches the index when none is cached yet (install and
// upgrade work without a first `hub update`).
func (in *Install) EnsureIndex(ctx context.Context) error { return in.ensureIndex(ctx) }

// ensurePatterns fetches the pattern files that are missing or whose
// sha256 is not the manifest's; it returns how many it wrote.
func (in *Install) ensurePatterns(ctx context.Context) (int, error) {
	n := 0
	for name, want := range source.Patterns() {
		p := filepath.Join(in.PatternsPath(), name)
		if got, err := hub.Hash(p); err == nil && got == want {
			continue
		}
		if err := in.needSource(); err != nil {
			return n, err
		}
		b, err := in.src.Pattern(ctx, name)
		if err != nil {
			return n, fmt.Errorf("install: patterns: %w", err)
		}
		if err := atomicfile.WriteFile(p, b, 0o644); err != nil {
			return n, fmt.Errorf("install: patterns: %w", err)
		}
		n++
	}
	return n, nil
}

// lock takes the install's exclusive lock.
func (in *Install) lock() (func(), error) {
	if err := os.MkdirAll(in.HubPath(), 0o755); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(in.HubPath(), lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("install: lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("install: another hub command is changing %s", in.dir)
		}
		return nil, fmt.Errorf("install: lock: %w", err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// PlanningState scans the install for planning a change. With no cached
// index, the index is fetched: cached (Update) unless dryRun, in memory
// only with dryRun, so that a dry run writes nothing.
func (in *Install) PlanningState(ctx context.Context, dryRun bool) (*State, error) {
	if !dryRun {
		if err := in.ensureIndex(ctx); err != nil {
			return nil, err
		}
	}
	st, err := in.Scan()
	if err != nil {
		return nil, err
	}
	if st.Index == nil {
		if err := in.needSource(); err != nil {
			return nil, err
		}
		_, idx, err := in.src.Index(ctx)
		if err != nil {
			return nil, fmt.Errorf("install: %w", err)
		}
		st.Index = idx
	}
	return st, nil
}
