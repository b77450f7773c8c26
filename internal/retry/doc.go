// Package retry holds the two pieces every retry loop of the module needs:
// the exponential delay before a retry, with an optional full jitter
// (Delay, or Backoff, which counts the retries), and Sleep, a wait that
// ends early when its context does.
//
// It is a leaf: it imports nothing of the module, and every package may
// import it. It does not decide what to retry or how often: callers keep
// their own attempt limits and error classification.
package retry
