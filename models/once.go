package models

import "time"

// Once makes a change idempotent: the change is stored together with Key,
// its owner's idempotency key, and the answer Answer gives for the changed
// order, so that the same request sent again is answered with that answer
// instead of being made a second time, until Expires.
type Once struct {
	// Key is the caller's key; keys of different owners never meet.
	Key string
	// Fingerprint identifies the request the key was first used for.
	Fingerprint string
	// Expires is when the key may be forgotten and used again.
	Expires time.Time
	// Answer is what the change answers, given the order as changed.
	Answer func(Order) Answer
}

// Answer is the answer to a request, as stored for a later replay.
type Answer struct {
	// Fingerprint identifies the request that was answered.
	Fingerprint string
	Status      int
	Location    string
	ETag        string
	ContentType string
	Body        []byte
}
