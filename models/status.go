package models

import "slices"

// Status is where an order is in its life.
type Status string

// The statuses an order goes through.
const (
	StatusCreated   Status = "created"
	StatusPaid      Status = "paid"
	StatusCancelled Status = "cancelled"
)

// Transition is a change of status that an owner may ask for, and the
// statuses from which it is allowed. Any other starting status is ErrConflict.
type Transition struct {
	To   Status
	From []Status
}

// Pay turns a created order into a paid one.
func Pay() Transition {
	return Transition{To: StatusPaid, From: []Status{StatusCreated}}
}

// Cancel cancels an order that is created or paid.
func Cancel() Transition {
	return Transition{To: StatusCancelled, From: []Status{StatusCreated, StatusPaid}}
}

// EditableFrom lists the statuses in which an order's items may be replaced.
func EditableFrom() []Status {
	return []Status{StatusCreated}
}

// Allows reports whether t may start from s.
func (t Transition) Allows(s Status) bool {
	return slices.Contains(t.From, s)
}
