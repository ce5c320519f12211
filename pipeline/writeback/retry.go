package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Backoff sets the delays between attempts after a conflict or a server
// error. Each delay is drawn uniformly from zero to an upper bound
// ("full jitter"), so that bumps that collided once spread out instead of
// colliding again. The bound starts at the duration of the failed attempt,
// or Initial if that is longer, and doubles with every further attempt up
// to Max. Scaling by the attempt's duration spaces the retries by about
// the time one commit takes on the server, however loaded it is.
type Backoff struct {
	// Initial is the smallest first upper bound. Zero means 50ms.
	Initial time.Duration
	// Max caps the upper bound. Zero means 10s.
	Max time.Duration
	// AttemptTimeout bounds one attempt, so that a server that hangs
	// does not use the whole Request.Timeout. Zero means 30s.
	AttemptTimeout time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 50 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.AttemptTimeout <= 0 {
		b.AttemptTimeout = 30 * time.Second
	}
	return b
}

// delay returns the jittered delay before attempt n+1, for n >= 1, after
// attempt n took the given time.
func (b Backoff) delay(n int, took time.Duration) time.Duration {
	bound := max(b.Initial, took)
	for i := 1; i < n && bound < b.Max; i++ {
		bound *= 2
	}
	bound = min(bound, b.Max)
	return time.Duration(rand.Int64N(int64(bound) + 1))
}

// retryable reports whether err may go away on a new attempt: a conflict
// with a concurrent update, or an unreachable or failing server.
func retryable(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrUnavailable)
}

// attemptFunc runs one attempt. It wraps ErrConflict or ErrUnavailable in
// its error to ask for another attempt.
type attemptFunc func(ctx context.Context, attempt int) (Result, error)

// retry runs attempt until it succeeds, fails with an error that is not
// retryable, or ctx is done. The returned Result has Attempts set.
func retry(ctx context.Context, b Backoff, log *slog.Logger, op string, attempt attemptFunc) (Result, error) {
	b = b.withDefaults()
	log = loggerOrDiscard(log)
	start := time.Now()
	var last error
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, b.AttemptTimeout)
		began := time.Now()
		res, err := attempt(actx, n)
		took := time.Since(began)
		cancel()
		if err == nil {
			res.Attempts = n
			return res, nil
		}
		if ctx.Err() != nil {
			return Result{}, giveUp(op, n, start, last, err, ctx.Err())
		}
		if !retryable(err) {
			return Result{}, err
		}
		last = err
		wait := b.delay(n, took)
		log.Warn("write-back attempt failed, retrying", "operation", op, "attempt", n, "delay", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Result{}, giveUp(op, n, start, last, err, ctx.Err())
		case <-timer.C:
		}
	}
}

// giveUp builds the error for a Write that ran out of time. It wraps the
// last retryable error, so that callers still see ErrConflict or
// ErrUnavailable, and the context error.
func giveUp(op string, attempts int, start time.Time, last, err, ctxErr error) error {
	if last == nil || retryable(err) {
		last = err
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	if errors.Is(last, ctxErr) {
		return fmt.Errorf("%s: gave up after %d attempts in %s: %w", op, attempts, elapsed, last)
	}
	return fmt.Errorf("%s: gave up after %d attempts in %s (%w): %w", op, attempts, elapsed, ctxErr, last)
}
