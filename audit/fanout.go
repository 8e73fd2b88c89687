package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// FanOut returns a Sink that writes every batch to all of sinks at once and
// returns once all have answered. Its error joins one *SinkError per
// failed sink, naming it; the sinks that succeeded keep the events.
//
// FanOut keeps no state, so retrying a failed FanOut write re-delivers the
// batch to the sinks that had already succeeded. Stores deduplicate by
// event ID (see Store), but other sinks (a log, a SIEM) would record it
// twice. Behind a Dispatcher, prefer giving the sinks to NewDispatcher one
// by one: each then has its own queue position and retry state, and
// receives every event exactly once unless its own write fails midway.
func FanOut(sinks ...Sink) Sink { return fanOut(sinks) }

type fanOut []Sink

func (f fanOut) Write(ctx context.Context, events []Event) error {
	errs := make([]error, len(f))
	var wg sync.WaitGroup
	for i, s := range f {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = &SinkError{Index: i, Sink: fmt.Sprintf("%T", s), Events: len(events), Err: fmt.Errorf("sink panicked: %v", r)}
				}
			}()
			if err := s.Write(ctx, events); err != nil {
				errs[i] = &SinkError{Index: i, Sink: fmt.Sprintf("%T", s), Events: len(events), Err: err}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
