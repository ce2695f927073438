package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/spike"
)

// spikeCounts is the bucket the gateways share their spike counts in, and
// the configuration they cap by.
type spikeCounts struct {
	kv  jetstream.KeyValue
	cfg spike.Config
}

// SetSpikes lets project settings show spike protection as cfg has the
// gateways cap: its baseline, cap and drops from their counts in kv (the
// limits bucket). Until it is called, settings say nothing of it.
func (w *Web) SetSpikes(kv jetstream.KeyValue, cfg spike.Config) {
	w.spikes.Store(&spikeCounts{kv: kv, cfg: cfg})
}

// spikeView is a project's spike protection on its settings page.
type spikeView struct {
	Global bool // SPIKE_PROTECTION is on
	On     bool // and the project's switch too
	Known  bool // the gateways' counts were read
	spike.Status
	Window     int
	Multiplier float64
	Floor      int64
}

// spikeOf is pr's spike protection as the gateways count it now.
func (w *Web) spikeOf(ctx context.Context, pr *accounts.OrgProject) *spikeView {
	sc := w.spikes.Load()
	if sc == nil {
		return nil
	}
	cfg := sc.cfg
	off, _ := pr.Settings.Options[accounts.OptionSpikeProtectionDisabled].(bool)
	v := &spikeView{Global: cfg.Enabled, On: cfg.Enabled && !off, Window: cfg.Window, Multiplier: cfg.Multiplier, Floor: cfg.Floor}
	if !cfg.Enabled {
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := spike.Read(ctx, sc.kv, cfg, pr.ID, time.Now())
	if err != nil {
		w.log.Warn("spike counts not read", slog.Any("error", err))
		return v
	}
	v.Known, v.Status = true, st
	return v
}
