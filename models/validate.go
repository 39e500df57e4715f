package models

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidateItems checks a whole list of items as sent for a new or replaced
// order. field is the name of the list in the API, used in error fields.
// A list of the wrong length is refused for its length alone.
func ValidateItems(field string, items []Item) error {
	if err := ValidateItemCount(field, len(items)); err != nil {
		return err
	}
	var verr ValidationError
	for i, it := range items {
		it.validate(fmt.Sprintf("%s[%d]", field, i), &verr)
	}
	return verr.Err()
}

// ValidateItemCount checks that an order holds n items, 1 to MaxItems. It
// returns a *ValidationError naming field otherwise.
func ValidateItemCount(field string, n int) error {
	switch {
	case n == 0:
		return Invalid(field, "must hold at least one item")
	case n > MaxItems:
		return Invalid(field, fmt.Sprintf("must hold at most %d items", MaxItems))
	}
	return nil
}

func (it Item) validate(prefix string, verr *ValidationError) {
	switch n := utf8.RuneCountInString(it.Product); {
	case !utf8.ValidString(it.Product):
		verr.Add(prefix+".product", "must be valid UTF-8")
	case n == 0:
		verr.Add(prefix+".product", "must not be empty")
	case n > MaxProductLength:
		verr.Add(prefix+".product", fmt.Sprintf("must be at most %d characters", MaxProductLength))
	case strings.IndexFunc(it.Product, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		verr.Add(prefix+".product", "must not contain control or format characters (such as U+202E)")
	}
	if !it.Size.Valid() {
		verr.Add(prefix+".size", "must be one of small, medium, big")
	}
	if it.Quantity < MinQuantity || it.Quantity > MaxQuantity {
		verr.Add(prefix+".quantity", fmt.Sprintf("must be between %d and %d", MinQuantity, MaxQuantity))
	}
}
