package ui

import (
	"context"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// HubItem is an installed hub item as the status page shows it.
type HubItem struct {
	Type, Name string
	// Status is cscli's: "enabled", "enabled,tainted",
	// "enabled,update-available", "enabled,local", "enabled,broken".
	Status string
	// Version is the installed version, Latest the index's ("" unknown).
	Version, Latest string
}

// HubStatus is what the detection content is and, when it comes from the
// hub install, its installed items.
type HubStatus struct {
	// Content says what the agent runs ("hub items installed in DIR",
	// "the hub tree DIR", "the embedded defaults").
	Content string
	Items   []HubItem
	// Indexed: a hub index is cached, so updates are known.
	Indexed bool
}

type statusData struct {
	Hub                       *HubStatus
	HubErr                    bool
	Installed, Tainted, Updts int
	Sharing                   sharingStatus
	Notifications             []notifStatus
}

// sharingStatus is community sharing's state, from internal/capi's
// metrics and the store's outbox.
type sharingStatus struct {
	Active                       bool // the capi metrics are registered: credentials were found
	Queued, Pushed, PushFailures float64
	Skipped                      []MetricRow // by reason
	Pulls                        []MetricRow // by result
	Community                    float64
	OutboxPending, OutboxSent    int64
	OutboxKnown                  bool
}

// notifStatus is one notification's delivery counters (internal/notify's
// metrics).
type notifStatus struct {
	Name                                   string
	Queued, Deliveries, Delivered          float64
	Failures, Retries, Dropped, QueueDepth float64
}

func (u *UI) status(w http.ResponseWriter, r *http.Request, s *session) error {
	var d statusData
	if u.hub != nil {
		hs, err := u.hub(r.Context())
		if err != nil {
			u.log.Warn("ui: hub status", "err", err)
			d.HubErr = true
		} else {
			d.Hub = &hs
			for _, it := range hs.Items {
				d.Installed++
				switch {
				case strings.Contains(it.Status, "tainted"):
					d.Tainted++
				case strings.Contains(it.Status, "update-available"):
					d.Updts++
				}
			}
		}
	}
	d.Sharing, d.Notifications = u.componentMetrics()
	if p, sent, err := u.st.OutboxStats(r.Context()); err == nil {
		d.Sharing.OutboxPending, d.Sharing.OutboxSent, d.Sharing.OutboxKnown = p, sent, true
	} else {
		u.log.Warn("ui: outbox stats", "err", err)
	}
	u.render(w, r, s, http.StatusOK, "status", "Hub, sharing, notifications", d)
	return nil
}

// componentMetrics reads community sharing's and the notifications'
// counters from the daemon's registry.
func (u *UI) componentMetrics() (sharingStatus, []notifStatus) {
	var sh sharingStatus
	if u.gather == nil {
		return sh, nil
	}
	fams, err := u.gather.Gather()
	if err != nil {
		u.log.Debug("ui: gather metrics", "err", err)
	}
	notifs := map[string]*notifStatus{}
	sum := func(f *dto.MetricFamily) float64 {
		var v float64
		for _, m := range f.GetMetric() {
			v += value(f.GetType(), m)
		}
		return v
	}
	byLabel := func(f *dto.MetricFamily, label string) []MetricRow {
		var out []MetricRow
		for _, m := range f.GetMetric() {
			out = append(out, MetricRow{Name: labelOf(m, label), Value: value(f.GetType(), m)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	for _, f := range fams {
		name := f.GetName()
		switch name {
		case "phalanx_capi_signals_queued_total":
			sh.Active, sh.Queued = true, sum(f)
		case "phalanx_capi_signals_pushed_total":
			sh.Pushed = sum(f)
		case "phalanx_capi_push_failures_total":
			sh.PushFailures = sum(f)
		case "phalanx_capi_signals_skipped_total":
			sh.Skipped = byLabel(f, "reason")
		case "phalanx_capi_pulls_total":
			sh.Pulls = byLabel(f, "result")
		case "phalanx_capi_community_entries":
			sh.Community = sum(f)
		}
		if !strings.HasPrefix(name, "phalanx_notification_") {
			continue
		}
		for _, m := range f.GetMetric() {
			n := labelOf(m, "notification")
			if n == "" {
				continue
			}
			ns := notifs[n]
			if ns == nil {
				if len(notifs) >= 100 {
					continue
				}
				ns = &notifStatus{Name: n}
				notifs[n] = ns
			}
			v := value(f.GetType(), m)
			switch strings.TrimPrefix(name, "phalanx_notification_") {
			case "alerts_queued_total":
				ns.Queued += v
			case "deliveries_total":
				ns.Deliveries += v
			case "delivered_alerts_total":
				ns.Delivered += v
			case "failures_total":
				ns.Failures += v
			case "retries_total":
				ns.Retries += v
			case "dropped_alerts_total":
				ns.Dropped += v
			case "queue_depth":
				ns.QueueDepth += v
			}
		}
	}
	out := make([]notifStatus, 0, len(notifs))
	for _, n := range notifs {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return sh, out
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// hubFunc describes the detection content (Deps.Hub).
type hubFunc = func(ctx context.Context) (HubStatus, error)
