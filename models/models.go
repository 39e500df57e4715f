// Package models holds the domain of the orders API: orders, their items,
// their owners and the rules by which an order changes status.
//
// It knows nothing of HTTP, SQL or tokens, and imports no other package of
// this module: every other package depends on it, never the reverse.
package models

import (
	"time"

	"github.com/google/uuid"
)

// OwnerID identifies the owner of an order: the subject (sub) of the access
// token that created it, at the issuer (iss) that issued it. A subject is
// unique only within its issuer, so two trusted issuers' "alice" are two
// owners. It is never shown to clients.
type OwnerID string

// NewOwnerID returns the owner for subject at issuer. The issuer, a URL,
// holds no space, so the space keeps the two apart.
func NewOwnerID(issuer, subject string) OwnerID {
	return OwnerID(issuer + " " + subject)
}

// OrderID identifies an order. It is a UUID in its canonical lowercase form.
type OrderID string

// NewOrderID returns a fresh, time-ordered order id (UUID version 7).
func NewOrderID() (OrderID, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return OrderID(id.String()), nil
}

// ParseOrderID parses s as an order id. Only the canonical form
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx is accepted, in either case; the result
// is lowercase. Anything else is a *ValidationError on field.
func ParseOrderID(field, s string) (OrderID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", Invalid(field, "must be a UUID")
	}
	return OrderID(id.String()), nil
}

// Size is the size of a drink.
type Size string

// The sizes on the menu.
const (
	SizeSmall  Size = "small"
	SizeMedium Size = "medium"
	SizeBig    Size = "big"
)

// Valid reports whether s is on the menu.
func (s Size) Valid() bool {
	switch s {
	case SizeSmall, SizeMedium, SizeBig:
		return true
	}
	return false
}

// Limits on an order's items.
const (
	MinQuantity      = 1
	MaxQuantity      = 1_000_000
	DefaultQuantity  = 1
	MaxItems         = 100
	MaxProductLength = 200
)

// Item is one line of an order.
type Item struct {
	Product  string
	Size     Size
	Quantity int64
}

// Order is a customer's order.
type Order struct {
	ID      OrderID
	Owner   OwnerID
	Created time.Time
	Status  Status
	Items   []Item
	// Version is 1 when the order is created and one more after each
	// change, so that two states of an order never share a version.
	Version Version
}

// Version counts the changes of an order (Order.Version).
type Version int64

// AnyVersion, as the version a change requires, lets the change apply to
// whatever version the order has.
const AnyVersion Version = 0

// Cursor is a position in an owner's list of orders, which runs newest first:
// the list resumes with the orders that come after it.
type Cursor struct {
	Created time.Time
	ID      OrderID
}

// ListQuery selects a page of an owner's orders.
type ListQuery struct {
	// Cancelled, when set, keeps only cancelled orders (true) or only the
	// others (false).
	Cancelled *bool
	// Limit is the most orders a page holds, between 1 and MaxPageSize.
	Limit int
	// After, when set, starts the page after that position.
	After *Cursor
}

// Page sizes of order lists.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// Page is one page of an owner's orders, newest first.
type Page struct {
	Orders []Order
	// Next is where the following page starts; nil on the last page.
	Next *Cursor
}
