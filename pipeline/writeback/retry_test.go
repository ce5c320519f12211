package writeback

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

var fastBackoff = Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond, AttemptTimeout: time.Second}

func TestRetryUntilSuccess(t *testing.T) {
	res, err := retry(context.Background(), fastBackoff, nil, "op", func(_ context.Context, n int) (Result, error) {
		if n < 3 {
			return Result{}, fmt.Errorf("attempt %d: %w", n, ErrConflict)
		}
		return Result{Changed: true}, nil
	})
	assert.NilError(t, err)
	assert.Check(t, res.Changed)
	assert.Check(t, is.Equal(res.Attempts, 3))
}

func TestRetryStopsOnPermanentError(t *testing.T) {
	calls := 0
	_, err := retry(context.Background(), fastBackoff, nil, "op", func(context.Context, int) (Result, error) {
		calls++
		return Result{}, ErrFileNotFound
	})
	assert.Check(t, is.ErrorIs(err, ErrFileNotFound))
	assert.Check(t, is.Equal(calls, 1))
}

func TestRetryGivesUpAtDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := retry(ctx, fastBackoff, nil, "write a/b@main", func(context.Context, int) (Result, error) {
		return Result{}, fmt.Errorf("commit: %w", ErrConflict)
	})
	assert.Check(t, is.ErrorIs(err, ErrConflict))
	assert.Check(t, is.ErrorIs(err, context.DeadlineExceeded))
	assert.Check(t, is.ErrorContains(err, "write a/b@main: gave up after"))
}

func TestRetryKeepsLastRetryableError(t *testing.T) {
	// An attempt cut short by the deadline reports the conflict that
	// caused the retries, not only the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := retry(ctx, fastBackoff, nil, "op", func(ctx context.Context, n int) (Result, error) {
		if n == 1 {
			return Result{}, fmt.Errorf("server: %w", ErrUnavailable)
		}
		<-ctx.Done()
		return Result{}, ctx.Err()
	})
	assert.Check(t, is.ErrorIs(err, ErrUnavailable))
	assert.Check(t, is.ErrorIs(err, context.DeadlineExceeded))
}

func TestBackoffDelayBounds(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond}.withDefaults()
	for n := 1; n <= 10; n++ {
		bound := min(10*time.Millisecond<<(n-1), 80*time.Millisecond)
		for range 50 {
			d := b.delay(n, time.Millisecond)
			assert.Assert(t, d >= 0 && d <= bound, "attempt %d: delay %s outside [0, %s]", n, d, bound)
		}
	}
	// A slow attempt raises the first bound to its own duration.
	for range 50 {
		d := b.delay(1, 40*time.Millisecond)
		assert.Assert(t, d >= 0 && d <= 40*time.Millisecond, "delay %s outside [0, 40ms]", d)
	}
	assert.Check(t, !retryable(errors.New("other")))
}

func TestRetryAfterAttemptTimeout(t *testing.T) {
	// A hung attempt ends at AttemptTimeout, and the next one runs.
	b := Backoff{Initial: time.Millisecond, Max: time.Millisecond, AttemptTimeout: 20 * time.Millisecond}
	res, err := retry(context.Background(), b, nil, "op", func(ctx context.Context, n int) (Result, error) {
		if n == 1 {
			<-ctx.Done()
			return Result{}, classifyHTTP("read", nil, ctx.Err())
		}
		return Result{Changed: true}, nil
	})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Attempts, 2))
}
