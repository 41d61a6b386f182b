package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/bouncer/firewall"
)

// bouncer firewall: the nftables / iptables bouncer of
// internal/bouncer/firewall, a subcommand of the bouncers noun (reached as
// `phalanx bouncer firewall`).
func newBouncerFirewallCmd(a *app) *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "firewall -c FILE",
		Short: "Run the firewall bouncer: enforce the Local API's decisions in nftables or iptables",
		Long: `Keeps the kernel's packet filter in step with the Local API's decisions
(stream mode): nftables through netlink in a table of its own ("inet phalanx"),
or iptables + ipset on hosts without nftables. Addresses and networks, IPv4 and
IPv6, each element with the decision's remaining time as its timeout. A periodic
resync reads the kernel back and repairs drift; while the Local API is
unreachable the last good set stays enforced. Needs root (CAP_NET_ADMIN).

The config file takes the keys of CrowdSec's firewall bouncer: api_url,
api_key, update_frequency, cert_path, key_path, ca_cert_path,
insecure_skip_verify, scopes, origins, scenarios_containing,
scenarios_not_containing, mode (nftables, iptables, ipset or auto),
deny_action (DROP or REJECT), iptables_chains or chains (input, forward),
disable_ipv6, supported_decisions_types, prometheus (enabled, listen_addr,
listen_port); and table, priority, resync_interval, batch_size,
fail_mode (open or closed), keep_on_exit, netns.`,
		Example: `  phalanx bouncers add fw -o raw > key
  cat > firewall-bouncer.yaml <<EOF
  api_url: http://127.0.0.1:8080/
  api_key: $(cat key)
  update_frequency: 10s
  mode: nftables
  deny_action: DROP
  iptables_chains: [INPUT, FORWARD]
  prometheus: {enabled: true, listen_addr: 127.0.0.1, listen_port: 60601}
  EOF
  phalanx bouncer firewall -c firewall-bouncer.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return &usageError{errors.New("bouncer firewall: -c FILE is required")}
			}
			cfg, err := firewall.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			return runFirewall(cmd.Context(), a, cfg)
		},
	}
	// A local -c shadows the noun's persistent --config (the daemon's file).
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "firewall bouncer config file (YAML)")
	return c
}

func runFirewall(ctx context.Context, a *app, cfg firewall.Config) error {
	log := a.logger()
	if cfg.LogLevel != "" {
		lvl := a.logLevel
		a.logLevel = cfg.LogLevel
		log = a.logger()
		a.logLevel = lvl
	}
	reg := newBouncerRegistry()
	fw, err := firewall.New(cfg, firewall.WithLogger(log), firewall.WithRegisterer(reg))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Prometheus.Enabled {
		host, port := cfg.Prometheus.ListenAddr, cfg.Prometheus.ListenPort
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "60601"
		}
		closeMetrics, err := serveBouncerMetrics(a, "bouncer firewall", net.JoinHostPort(host, port), reg)
		if err != nil {
			return err
		}
		defer closeMetrics()
	}
	fmt.Fprintf(a.err, "bouncer firewall: %s, table %s, chains %v, %s; decisions from %s every %s\n",
		fw.Backend(), cfg.Table, cfg.Chains, cfg.DenyAction, cfg.APIURL, cfg.UpdateFrequency)
	return fw.Run(ctx)
}
