package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/builtin"
	"github.com/phalanx-ids/phalanx/internal/profile"
)

// NotificationsDir is the notification directory's name in the data dir
// when lapi.notification_dir is empty.
const NotificationsDir = "notifications"

// NotifyDrainTimeout bounds how long a stopping daemon keeps delivering
// queued notifications once the LAPI has stopped.
const NotifyDrainTimeout = 10 * time.Second

// notificationDir is lapi.notification_dir, else <data_dir>/notifications;
// must says whether a missing directory is an error (only when set).
func notificationDir(r *resolved) (dir string, must bool) {
	if r.LAPI.NotificationDir != "" {
		return r.LAPI.NotificationDir, true
	}
	return filepath.Join(r.DataDir, NotificationsDir), false
}

// profileNotifications lists the notification names the profiles use.
func profileNotifications(prof *profile.Set) []string {
	var out []string
	for _, c := range prof.Configs() {
		for _, n := range c.Notifications {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// prepareNotify loads the notification directory and provisions what the
// profiles use (see notify.Dispatcher.Prepare). Nothing changes before
// Commit.
func (a *App) prepareNotify(r *resolved, prof *profile.Set) (*notify.Update, error) {
	dir, must := notificationDir(r)
	set, err := builtin.NewRegistry().LoadDir(dir, notify.LoadOptions{Logger: a.log})
	if err != nil {
		if must || !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("app: notifications: %w", err)
		}
		set, _ = notify.NewSet(nil)
	}
	u, err := a.notifier.Prepare(set, profileNotifications(prof))
	if err != nil {
		return nil, fmt.Errorf("app: notifications (%s): %w", dir, err)
	}
	return u, nil
}

// startNotify builds the dispatcher and its first notifications.
func (a *App) startNotify(r *resolved, prof *profile.Set) error {
	var err error
	if a.notifier, err = notify.NewDispatcher(notify.Options{Logger: a.log, Registerer: a.reg}); err != nil {
		return fmt.Errorf("app: notifications: %w", err)
	}
	u, err := a.prepareNotify(r, prof)
	if err != nil {
		return err
	}
	u.Commit()
	if names := a.notifier.Names(); len(names) > 0 {
		a.log.Info("app: notifications", "names", names)
	}
	return nil
}

// notify hands the alerts profiles selected to the dispatcher
// (lapi.Deps.Notify): it queues and returns, never waiting on delivery.
func (a *App) notify(al *models.Alert, names []string) {
	if a.notifier != nil {
		a.notifier.Notify(al, names)
	}
}

// closeNotify delivers what is queued within NotifyDrainTimeout.
func (a *App) closeNotify() {
	if a.notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), NotifyDrainTimeout)
	defer cancel()
	if err := a.notifier.Close(ctx); err != nil {
		a.log.Error("app: notifications", "err", err)
	}
}
