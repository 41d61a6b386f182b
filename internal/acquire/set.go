package acquire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/expr-lang/expr/vm"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Metrics counts lines read, per datasource module, with CrowdSec's metric
// names (Module.HitsMetric) and labels source, datasource_type and
// acquis_type, plus transform failures.
//
// Concurrency: safe for concurrent use.
type Metrics struct {
	hits          map[string]*prometheus.CounterVec
	transformErrs *prometheus.CounterVec
}

// NewMetrics registers one lines counter per module of r in reg. A
// collector already registered (a reload) is reused. reg nil: metrics are
// kept but not exported.
func NewMetrics(reg prometheus.Registerer, r *Registry) (*Metrics, error) {
	m := &Metrics{hits: map[string]*prometheus.CounterVec{}}
	for _, name := range r.Names() {
		cv := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: r.mods[name].LinesMetric(),
			Help: "Lines read by the " + name + " datasource.",
		}, []string{"source", "datasource_type", "acquis_type"})
		got, err := register(reg, cv)
		if err != nil {
			return nil, err
		}
		m.hits[name] = got
	}
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phalanx_acquire_transform_errors_total",
		Help: "Lines dropped because their acquisition transform failed.",
	}, []string{"datasource_type"})
	got, err := register(reg, cv)
	if err != nil {
		return nil, err
	}
	m.transformErrs = got
	return m, nil
}

func register(reg prometheus.Registerer, cv *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if reg == nil {
		return cv, nil
	}
	if err := reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("acquire: metrics: %w", err)
	}
	return cv, nil
}

// Set runs several sources as one stream.
//
// Concurrency: Run may be called once at a time; the Set is otherwise
// read-only.
type Set struct {
	sources []*Source
	metrics *Metrics
	log     *slog.Logger
}

// NewSet groups sources. metrics may be nil (no counting); logger may be
// nil (discard).
func NewSet(sources []*Source, metrics *Metrics, logger *slog.Logger) *Set {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Set{sources: sources, metrics: metrics, log: logger}
}

// Sources returns the sources of the set.
func (s *Set) Sources() []*Source { return s.sources }

// Run runs every source and calls emit for each line (after the source's
// transform), serially. It returns when every source has returned (cat
// sources end on their own; tail sources on ctx cancel) or emit fails (the
// sources are then cancelled and emit's error is returned). Errors of
// single sources are logged and returned joined once all have ended; the
// other sources keep running meanwhile. The signature fits detect.Source.
//
// Several sources send their lines through one channel to the goroutine
// that called Run, which calls emit. A set of one source runs it on the
// calling goroutine and emit is called from wherever the source emits (one
// call at a time, by the Datasource contract): no channel and no goroutine
// handoff a line, which cost a busy tailed file a share of its CPU.
func (s *Set) Run(ctx context.Context, emit func(event.Line) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if len(s.sources) == 1 {
		return s.runOne(ctx, cancel, s.sources[0], emit)
	}
	lines := make(chan event.Line, 64)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, src := range s.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := func(l event.Line) error {
				select {
				case lines <- l:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			err := src.DS.Run(ctx, s.wrap(src, send))
			if err != nil && ctx.Err() == nil {
				s.log.Error("acquire: datasource stopped", "source", src.String(), "err", err)
				mu.Lock()
				errs = append(errs, fmt.Errorf("acquire: %s: %w", src, err))
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var emitErr error
	for {
		select {
		case l := <-lines:
			if emitErr != nil {
				continue
			}
			if err := emit(l); err != nil {
				emitErr = err
				cancel()
			}
		case <-done:
			// every sender is gone; drain what they queued
			for {
				select {
				case l := <-lines:
					if emitErr == nil {
						if err := emit(l); err != nil {
							emitErr = err
						}
					}
				default:
					if emitErr != nil {
						return emitErr
					}
					return errors.Join(errs...)
				}
			}
		}
	}
}

// runOne runs the set's only source, calling emit from this goroutine,
// with the errors of Run's several-source path: emit's own error when it
// failed, else the source's (logged), none once ctx is done.
func (s *Set) runOne(ctx context.Context, cancel context.CancelFunc, src *Source, emit func(event.Line) error) error {
	var emitErr error
	send := func(l event.Line) error {
		if emitErr != nil {
			return emitErr
		}
		if err := emit(l); err != nil {
			emitErr = err
			cancel()
			return err
		}
		return nil
	}
	err := src.DS.Run(ctx, s.wrap(src, send))
	if emitErr != nil {
		return emitErr
	}
	if err != nil && ctx.Err() == nil {
		s.log.Error("acquire: datasource stopped", "source", src.String(), "err", err)
		return errors.Join(fmt.Errorf("acquire: %s: %w", src, err))
	}
	return nil
}

// wrap fills the Line defaults, counts it and applies the transform.
func (s *Set) wrap(src *Source, send Emit) Emit {
	var hits *prometheus.CounterVec
	var terrs prometheus.Counter
	if s.metrics != nil {
		hits = s.metrics.hits[src.Module]
		terrs = s.metrics.transformErrs.WithLabelValues(src.Module)
	}
	typ := src.Common.Labels["type"]
	var (
		lastSrc string
		counter prometheus.Counter
	)
	return func(l event.Line) error {
		if l.Labels == nil {
			l.Labels = src.Common.Labels
		}
		if l.Module == "" {
			l.Module = src.Module
		}
		l.Process = true
		if hits != nil {
			if counter == nil || l.Src != lastSrc {
				counter, lastSrc = hits.WithLabelValues(l.Src, src.Module, typ), l.Src
			}
			counter.Inc()
		}
		if src.transform == nil {
			return send(l)
		}
		out, err := runTransform(src.transform, l)
		if err != nil {
			if terrs != nil {
				terrs.Inc()
			}
			s.log.Warn("acquire: transform failed, line dropped", "source", src.String(), "err", err)
			return nil
		}
		for _, raw := range out {
			nl := l
			nl.Raw = raw
			if err := send(nl); err != nil {
				return err
			}
		}
		return nil
	}
}

// runTransform runs a transform on one line: a string result replaces Raw,
// a list of strings splits the line into several.
func runTransform(prog *vm.Program, l event.Line) ([]string, error) {
	ev := event.New(l)
	res, err := vm.Run(prog, transformEnv{Evt: ev})
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	switch v := res.(type) {
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("transform: element %d is %T, want string", i, x)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("transform: result is %T, want string or []string", res)
}

// Hits returns the lines counter of a module (nil if unknown), labelled
// source, datasource_type, acquis_type.
func (m *Metrics) Hits(module string) *prometheus.CounterVec { return m.hits[module] }

// TransformErrors returns the counter of lines dropped by a failed
// transform, labelled datasource_type.
func (m *Metrics) TransformErrors() *prometheus.CounterVec { return m.transformErrs }
