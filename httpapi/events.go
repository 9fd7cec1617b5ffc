package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/wire"
)

// maxStreamLifetime ends an events stream after a while even when it is
// healthy: the follower resumes from its cursor, and a server never keeps
// a stream (and its goroutine) open for ever.
const maxStreamLifetime = 10 * time.Minute

// streamWriteTimeout bounds one write of a stream, replacing the server's
// WriteTimeout, which would otherwise end every stream after a minute.
const streamWriteTimeout = 30 * time.Second

// handleEvents streams the caller's device events as NDJSON, resuming
// after the cursor given in after=. Errors before the first byte are
// problems; afterwards the stream just ends and the follower resumes.
func handleEvents(svc *regcenter.Service, poll time.Duration, shutdown <-chan struct{}, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		q := r.URL.Query()
		for name := range q {
			if name != "after" {
				return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "unknown query parameter %q", name)
			}
		}
		after, err := regcenter.ParseCursor(q.Get("after"))
		if err != nil {
			return err
		}
		events, err := svc.Events(r.Context(), caller, after, regcenter.MaxEventsPage)
		if err != nil {
			return err
		}

		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Time{})
		w.Header().Set("Content-Type", wire.EventsContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			return nil
		}
		ticker := time.NewTicker(poll)
		defer ticker.Stop()
		lifetime := time.NewTimer(maxStreamLifetime)
		defer lifetime.Stop()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for {
			if len(events) > 0 {
				buf.Reset()
				for _, e := range events {
					enc.Encode(wire.FromEvent(e))
				}
				rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
				if _, err := w.Write(buf.Bytes()); err != nil {
					return nil
				}
				if err := rc.Flush(); err != nil {
					return nil
				}
				rc.SetWriteDeadline(time.Time{})
				after = events[len(events)-1].Seq
			}
			if len(events) < regcenter.MaxEventsPage {
				select {
				case <-r.Context().Done():
					return nil
				case <-shutdown:
					return nil
				case <-lifetime.C:
					return nil
				case <-ticker.C:
				}
			}
			if events, err = svc.Events(r.Context(), caller, after, regcenter.MaxEventsPage); err != nil {
				log.Warn("events stream ended by a store error; the follower resumes from its cursor", "platform", caller.ID, "err", err)
				return nil
			}
		}
	}
}
