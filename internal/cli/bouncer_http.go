package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/bouncer/httpbouncer"
	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// bouncer http: the reverse proxy of internal/bouncer/httpbouncer, a
// subcommand of the bouncers noun (reached as `phalanx bouncer http`).
func newBouncerHTTPCmd(a *app) *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "http -c FILE",
		Short: "Run the HTTP bouncer: a reverse proxy that enforces the Local API's decisions",
		Long: `Runs a reverse proxy in front of a web application. Decisions are pulled from
the Local API in stream mode; "ban" answers 403, "captcha" answers a self-hosted
proof-of-work challenge that sets a signed cookie once solved.

The config file takes the keys of CrowdSec's bouncers (api_url, api_key,
update_frequency, cert_path, key_path, ca_cert_path, scopes, origins...) and
listen_addr, upstream, trusted_proxies, fallback_remediation,
listen_cert_path/listen_key_path (HTTPS) and captcha (difficulty,
secret_path, pass_duration, cookie_name, path) and prometheus (enabled,
listen_addr, listen_port: /metrics, default 127.0.0.1:60602).`,
		Example: `  phalanx bouncers add web -o raw > key
  cat > http-bouncer.yaml <<EOF
  api_url: http://127.0.0.1:8080/
  api_key: $(cat key)
  update_frequency: 10s
  listen_addr: 0.0.0.0:8081
  upstream: http://127.0.0.1:3000
  trusted_proxies: [127.0.0.1]
  prometheus: {enabled: true, listen_addr: 127.0.0.1, listen_port: 60602}
  EOF
  phalanx bouncer http -c http-bouncer.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return &usageError{errors.New("bouncer http: -c FILE is required")}
			}
			cfg, err := httpbouncer.LoadProxyConfig(cfgPath)
			if err != nil {
				return err
			}
			reg := newBouncerRegistry()
			p, err := httpbouncer.NewProxy(cfg, httpbouncer.WithProxyLogger(a.logger()), httpbouncer.WithProxyRegisterer(reg))
			if err != nil {
				return err
			}
			if cfg.Prometheus.Enabled {
				closeMetrics, err := serveBouncerMetrics(a, "bouncer http", cfg.Prometheus.Listen(), reg)
				if err != nil {
					return err
				}
				defer closeMetrics()
			}
			ln, err := netguard.Listen(cmd.Context(), "tcp", cfg.ListenAddr)
			if err != nil {
				return fmt.Errorf("bouncer http: listen: %w", err)
			}
			scheme := "http"
			if cfg.ListenCertPath != "" {
				scheme = "https"
			}
			fmt.Fprintf(a.err, "bouncer http: serving %s://%s -> %s (decisions from %s every %s)\n",
				scheme, ln.Addr(), cfg.Upstream, cfg.APIURL, cfg.UpdateFrequency)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return p.Run(ctx, ln)
		},
	}
	// A local -c shadows the noun's persistent --config (the daemon's file).
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "HTTP bouncer config file (YAML)")
	return c
}
