package install

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/atomicfile"
	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/source"
)

// Data file outcomes.
const (
	DataFetched     = "downloaded"
	DataNotModified = "not modified" // conditional request answered 304
	DataPresent     = "present"      // already there, not asked for
)

// DataResult is what happened to one data file.
type DataResult struct {
	File   string `json:"file"` // dest_file, relative to <data_dir>/data
	URL    string `json:"url"`
	Status string `json:"status"`
}

// dataRecord is what the last download of a data file left (data.json).
type dataRecord struct {
	URL string `json:"url"`
	source.Validators
	SHA256 string `json:"sha256"`
}

// DataSpecs returns the data files an item file declares (data: in any of
// its YAML documents). A dest_file that would leave the data dir is an
// error.
func DataSpecs(b []byte) ([]datafile.Spec, error) {
	var out []datafile.Spec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Data []datafile.Spec `yaml:"data"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		for _, d := range doc.Data {
			if d.DestFile == "" {
				continue
			}
			if !filepath.IsLocal(filepath.FromSlash(d.DestFile)) {
				return nil, fmt.Errorf("data: dest_file %q leaves the data dir", d.DestFile)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func (in *Install) readDataState() (map[string]dataRecord, error) {
	recs := map[string]dataRecord{}
	b, err := os.ReadFile(filepath.Join(in.HubPath(), dataState))
	if errors.Is(err, fs.ErrNotExist) {
		return recs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	if err := json.Unmarshal(b, &recs); err != nil {
		// Only validators are lost: the next fetch is a full one.
		return map[string]dataRecord{}, nil
	}
	return recs, nil
}

// fetchData fetches the data files of the plan's items: missing ones at
// install; with p.refresh, every one, conditionally when the file is the
// one last downloaded.
func (in *Install) fetchData(ctx context.Context, p *Plan, res *Result) error {
	recs, err := in.readDataState()
	if err != nil {
		return err
	}
	specs := map[string]datafile.Spec{}
	for _, d := range p.data {
		b, err := os.ReadFile(filepath.Join(in.dir, d.path))
		if err != nil {
			continue // not installed
		}
		ss, err := DataSpecs(b)
		if err != nil {
			res.DataErrors = append(res.DataErrors, fmt.Sprintf("%s: %v", d.ref, err))
			continue
		}
		for _, s := range ss {
			if _, dup := specs[s.DestFile]; !dup {
				specs[s.DestFile] = s
			}
		}
	}
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	changed := false
	for _, n := range names {
		dr, rec, err := in.fetchOne(ctx, specs[n], recs[n], p.refresh)
		if err != nil {
			res.DataErrors = append(res.DataErrors, err.Error())
			continue
		}
		res.Data = append(res.Data, dr)
		if rec != nil {
			recs[n] = *rec
			changed = true
		}
	}
	if changed {
		b, _ := json.MarshalIndent(recs, "", "  ")
		if err := atomicfile.WriteFile(filepath.Join(in.HubPath(), dataState), b, 0o644); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	}
	return nil
}

// fetchOne brings one data file up to date; rec is the new record (nil
// when unchanged).
func (in *Install) fetchOne(ctx context.Context, spec datafile.Spec, old dataRecord, refresh bool) (DataResult, *dataRecord, error) {
	dst := filepath.Join(in.DataPath(), filepath.FromSlash(spec.DestFile))
	dr := DataResult{File: spec.DestFile, URL: spec.SourceURL}
	cur, herr := hub.Hash(dst)
	exists := herr == nil
	if exists && !refresh {
		dr.Status = DataPresent
		return dr, nil, nil
	}
	if err := in.needSource(); err != nil {
		return dr, nil, fmt.Errorf("data %s: %w", spec.DestFile, err)
	}
	where, err := in.src.DataURL(spec.SourceURL)
	if err != nil {
		return dr, nil, fmt.Errorf("data %s: %w", spec.DestFile, err)
	}
	dr.URL = where
	var prev source.Validators
	if exists && old.URL == where && old.SHA256 == cur {
		prev = old.Validators // the file is the one we fetched: ask only for a newer one
	}
	resp, err := in.src.Data(ctx, spec.SourceURL, prev)
	if err != nil {
		return dr, nil, fmt.Errorf("data %s: %w", spec.DestFile, err)
	}
	if resp.NotModified {
		dr.Status = DataNotModified
		rec := old
		rec.Validators = resp.Validators
		if rec == old {
			return dr, nil, nil
		}
		return dr, &rec, nil
	}
	defer resp.Body.Close()
	var sum string
	err = atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		hw := &hashWriter{w: w}
		n, err := io.Copy(hw, io.LimitReader(resp.Body, source.MaxData+1))
		if err != nil {
			return err
		}
		if n > source.MaxData {
			return fmt.Errorf("larger than %d bytes", int64(source.MaxData))
		}
		sum = hw.sum()
		return nil
	}, func(tmp string) error { return checkData(spec, tmp) })
	if err != nil {
		return dr, nil, fmt.Errorf("data %s from %s: %w", spec.DestFile, where, err)
	}
	dr.Status = DataFetched
	return dr, &dataRecord{URL: where, Validators: resp.Validators, SHA256: sum}, nil
}

// checkData refuses a downloaded data file the engine could not load: a
// MaxMind database that does not open, a list that does not parse.
func checkData(spec datafile.Spec, tmp string) error {
	if strings.HasSuffix(spec.DestFile, ".mmdb") {
		db, err := maxminddb.Open(tmp)
		if err != nil {
			return fmt.Errorf("not a MaxMind database: %w", err)
		}
		return db.Close()
	}
	if spec.Type == "" {
		return nil
	}
	st := datafile.NewStore(filepath.Dir(tmp))
	return st.Load(datafile.Spec{DestFile: filepath.Base(tmp), Type: spec.Type})
}
