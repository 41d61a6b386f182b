package install

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/hub"
)

// Kinds of action.
const (
	// Download fetches an item's file into the hub cache (checked against
	// the index's sha256).
	Download = "download"
	// Enable links an item into the install.
	Enable = "enable"
	// Disable removes an item from the install.
	Disable = "disable"
)

// Action is one step of a plan.
type Action struct {
	Kind    string `json:"action"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`

	item *hub.Item
	path string // Disable: the installed file
}

func (a Action) String() string {
	s := a.Kind + " " + a.Type + ":" + a.Name
	if a.Version != "" {
		s += " (" + a.Version + ")"
	}
	return s
}

// Plan is what an operation will do. Nothing is touched until Apply.
type Plan struct {
	Actions []Action `json:"actions"`
	// Notes say what is left as it is, and why.
	Notes []string `json:"notes,omitempty"`

	data    []dataItem // items whose data files are fetched
	refresh bool       // refresh data files (conditional requests)
}

// Empty reports a plan with nothing to change.
func (p *Plan) Empty() bool { return len(p.Actions) == 0 }

// DataItemsPending reports the items whose data files Apply would check
// (missing files are fetched even when no item changes).
func (p *Plan) DataItemsPending() []hub.Ref {
	out := make([]hub.Ref, len(p.data))
	for i, d := range p.data {
		out[i] = d.ref
	}
	return out
}

// dataItem is an item whose data files Apply fetches, and its install
// path (relative to the data dir).
type dataItem struct {
	ref  hub.Ref
	path string
}

func (p *Plan) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

func (p *Plan) addData(it *hub.Item) {
	d := dataItem{hub.Ref{Type: it.Type, Name: it.Name}, it.InstallPath()}
	if !slices.Contains(p.data, d) {
		p.data = append(p.data, d)
	}
}

// fetch adds a Download (unless the cached file already is the current
// version) and, unless already linked, an Enable.
func (p *Plan) fetch(st *State, in *Install, it *hub.Item, s *ItemState) {
	if h, err := hub.Hash(filepath.Join(in.HubPath(), filepath.FromSlash(it.Path))); err != nil || h != it.Digest() {
		p.Actions = append(p.Actions, Action{Kind: Download, Type: it.Type, Name: it.Name, Version: it.Version, item: it})
	}
	if s == nil || !s.Installed || !s.Linked || s.Broken {
		p.Actions = append(p.Actions, Action{Kind: Enable, Type: it.Type, Name: it.Name, Version: it.Version, item: it})
	}
	p.addData(it)
}

func typeWord(typ string) string { return strings.TrimSuffix(typ, "s") }

// lookup checks that refs name supported index items.
func lookup(st *State, refs []hub.Ref) error {
	if st.Index == nil {
		return fmt.Errorf("install: %w", ErrNoIndex)
	}
	for _, r := range refs {
		if !hub.Supported(r.Type) {
			return fmt.Errorf("install: item type %q is not supported", r.Type)
		}
		if _, ok := st.Index.Get(r.Type, r.Name); !ok {
			return fmt.Errorf("install: unknown %s %q (not in the index: `phalanx hub update`, or `phalanx %s list -a`)", typeWord(r.Type), r.Name, r.Type)
		}
	}
	return nil
}

// PlanInstall plans the installation of refs and, for collections,
// everything they list. Installed items are left as they are (an update
// is `upgrade`'s job); a tainted one is overwritten only with force; a
// local file in an item's place is an error unless force.
func (in *Install) PlanInstall(st *State, refs []hub.Ref, force bool) (*Plan, error) {
	if err := lookup(st, refs); err != nil {
		return nil, err
	}
	items, err := st.Index.Closure(refs...)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	p := &Plan{}
	for _, it := range items {
		r := hub.Ref{Type: it.Type, Name: it.Name}
		explicit := slices.Contains(refs, r)
		for _, sk := range it.Skipped() {
			p.note("%s %s lists %s: not supported by Phalanx, skipped", typeWord(it.Type), it.Name, sk)
		}
		if occ := st.AtPath(it.InstallPath()); occ != nil && occ.Local {
			if !force {
				return nil, fmt.Errorf("install: %s %s: %s is a local item (%s): move it away, or --force to replace it",
					typeWord(it.Type), it.Name, occ.Path, occ.Name)
			}
			p.fetch(st, in, it, nil)
			continue
		}
		s := st.Item(r)
		switch {
		case !s.Installed || s.Broken:
			p.fetch(st, in, it, s)
		case s.Tainted && force:
			p.fetch(st, in, it, s)
		case s.Tainted:
			p.note("%s %s is tainted (edited locally): left as it is (--force to overwrite it)", typeWord(it.Type), it.Name)
			p.addData(it)
		case !s.UpToDate():
			p.note("%s %s %s is installed, %s is available: `phalanx %s upgrade %s`", typeWord(it.Type), it.Name, s.LocalVersion, it.Version, it.Type, it.Name)
			p.addData(it)
		default:
			if explicit {
				p.note("%s %s is already installed", typeWord(it.Type), it.Name)
			}
			p.addData(it)
		}
	}
	return p, nil
}

// PlanUpgrade plans bringing refs (and, for collections, what they list)
// to the index's current version; items a collection lists that are not
// installed yet are installed. Tainted items are overwritten only with
// force; local items are never touched. Data files of every item
// concerned are refreshed with conditional requests.
func (in *Install) PlanUpgrade(st *State, refs []hub.Ref, force bool) (*Plan, error) {
	if err := lookup(st, refs); err != nil {
		return nil, err
	}
	p := &Plan{refresh: true}
	var targets []hub.Ref
	for _, r := range refs {
		if s := st.Item(r); !s.Installed {
			p.note("%s %s is not installed: `phalanx %s install %s`", typeWord(r.Type), r.Name, r.Type, r.Name)
			continue
		}
		targets = append(targets, r)
	}
	items, err := st.Index.Closure(targets...)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	for _, it := range items {
		r := hub.Ref{Type: it.Type, Name: it.Name}
		s := st.Item(r)
		switch {
		case !s.Installed || s.Broken:
			if occ := st.AtPath(it.InstallPath()); occ != nil && occ.Local && !force {
				p.note("%s %s: %s is a local item: not replaced (--force to replace it)", typeWord(it.Type), it.Name, occ.Path)
				continue
			}
			p.fetch(st, in, it, s)
		case s.Tainted && !force:
			p.note("%s %s is tainted (edited locally): not upgraded (--force to overwrite it)", typeWord(it.Type), it.Name)
			p.addData(it)
		default:
			// Outdated, tainted with force, a copy, or up to date: fetch
			// adds only what is needed (at least the data refresh).
			p.fetch(st, in, it, s)
		}
	}
	return p, nil
}

// PlanRemove plans the removal of refs. A collection takes with it what it
// lists, except what another installed collection still needs; an item
// an installed collection lists is removed only with force, and so is a
// tainted one. Local items are not removed (their files are the user's).
func (in *Install) PlanRemove(st *State, refs []hub.Ref, force bool) (*Plan, error) {
	p := &Plan{}
	removing := map[hub.Ref]bool{}
	var targets []hub.Ref
	for _, r := range refs {
		s := st.Item(r)
		switch {
		case s == nil:
			return nil, fmt.Errorf("install: unknown %s %q", typeWord(r.Type), r.Name)
		case !s.Installed:
			p.note("%s %s is not installed", typeWord(r.Type), r.Name)
			continue
		case s.Local:
			return nil, fmt.Errorf("install: %s %s is a local item: delete %s yourself", typeWord(r.Type), r.Name, s.Path)
		}
		targets = append(targets, r)
		removing[r] = true
		if s.Item != nil && st.Index != nil {
			sub, err := st.Index.Closure(r)
			if err != nil {
				return nil, fmt.Errorf("install: %w", err)
			}
			for _, it := range sub {
				if d := st.byRef[hub.Ref{Type: it.Type, Name: it.Name}]; d != nil {
					removing[d.Ref] = true
				}
			}
		}
	}
	// What the collections that stay need.
	var roots []hub.Ref
	for _, s := range st.Installed(hub.Collections) {
		if !s.Local && !removing[s.Ref] {
			roots = append(roots, s.Ref)
		}
	}
	kept := map[hub.Ref]string{} // item -> a collection that stays and needs it
	if st.Index != nil {
		for _, root := range roots {
			sub, err := st.Index.Closure(root)
			if err != nil {
				return nil, fmt.Errorf("install: %w", err)
			}
			for _, it := range sub {
				r := hub.Ref{Type: it.Type, Name: it.Name}
				if _, ok := kept[r]; !ok && r != root {
					kept[r] = root.Name
				}
			}
		}
	}
	for _, t := range targets {
		by, ok := kept[t]
		if !ok || force {
			continue
		}
		for _, c := range st.Item(t).BelongsTo {
			if !removing[hub.Ref{Type: hub.Collections, Name: c}] {
				by = c // the collection listing it directly says more
				break
			}
		}
		return nil, fmt.Errorf("install: %s %s belongs to the installed collection %s: remove that collection, or --force", typeWord(t.Type), t.Name, by)
	}
	for _, s := range st.Installed("") {
		if !removing[s.Ref] || s.Local {
			continue
		}
		explicit := slices.Contains(targets, s.Ref)
		if by, ok := kept[s.Ref]; ok && !explicit {
			p.note("%s %s stays: collection %s needs it", typeWord(s.Type), s.Name, by)
			continue
		}
		if s.Tainted && !force {
			p.note("%s %s is tainted (edited locally): not removed (--force to remove it)", typeWord(s.Type), s.Name)
			continue
		}
		p.Actions = append(p.Actions, Action{Kind: Disable, Type: s.Type, Name: s.Name, Version: s.LocalVersion, path: s.Path})
	}
	return p, nil
}
