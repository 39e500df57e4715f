package repository

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"github.com/coffeemesh/orders/models"
)

// An order's items are stored as a JSON array of objects:
// [{"product":"latte","size":"big","quantity":2},…].

type itemRow struct {
	Product  string `json:"product"`
	Size     string `json:"size"`
	Quantity int64  `json:"quantity"`
}

func encodeItems(items []models.Item) (string, error) {
	rows := make([]itemRow, len(items))
	for i, it := range items {
		rows[i] = itemRow{Product: it.Product, Size: string(it.Size), Quantity: it.Quantity}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return "", fmt.Errorf("encode items: %w", err)
	}
	return string(b), nil
}

// appendItems appends the items of the stored array s to items. Every read
// decodes one array per order, and JSON v2 spent as long on a page of them
// as the query did, so the exact layout encodeItems writes is read by
// scanItems, without reflection or copies; anything else, such as a product
// that needs escaping or a row written by another tool, is left to JSON v2.
// FuzzItems checks that the two agree.
func appendItems(items []models.Item, s string) ([]models.Item, error) {
	if more, ok := scanItems(items, s); ok {
		return more, nil
	}
	var rows []itemRow
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return items, err
	}
	for _, it := range rows {
		items = append(items, models.Item{Product: it.Product, Size: models.Size(it.Size), Quantity: it.Quantity})
	}
	return items, nil
}

// scanItems appends the items of s to items if s is a non-empty array in
// exactly the layout of encodeItems, with no string that needs an escape;
// ok is false otherwise, and items what it was. The strings it appends share
// s's memory.
func scanItems(items []models.Item, s string) (more []models.Item, ok bool) {
	rest, ok := strings.CutPrefix(s, "[")
	if !ok {
		return items, false
	}
	more = items
	for {
		var it models.Item
		var size string
		if rest, ok = strings.CutPrefix(rest, `{"product":`); !ok {
			return items, false
		}
		if it.Product, rest, ok = plainString(rest); !ok {
			return items, false
		}
		if rest, ok = strings.CutPrefix(rest, `,"size":`); !ok {
			return items, false
		}
		if size, rest, ok = plainString(rest); !ok {
			return items, false
		}
		it.Size = models.Size(size)
		if rest, ok = strings.CutPrefix(rest, `,"quantity":`); !ok {
			return items, false
		}
		if it.Quantity, rest, ok = plainInt(rest); !ok {
			return items, false
		}
		if rest, ok = strings.CutPrefix(rest, "}"); !ok {
			return items, false
		}
		more = append(more, it)
		if rest == "]" {
			return more, true
		}
		if rest, ok = strings.CutPrefix(rest, ","); !ok {
			return items, false
		}
	}
}

// plainString reads a JSON string at the start of s that needs no
// unescaping: valid UTF-8 with no backslash and no control character. It
// returns the string's contents and what follows it.
func plainString(s string) (value, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", false
	}
	value = s[1 : 1+end]
	for i := 0; i < len(value); i++ {
		if value[i] < 0x20 || value[i] == '\\' {
			return "", "", false
		}
	}
	if !utf8.ValidString(value) {
		return "", "", false
	}
	return value, s[end+2:], true
}

// plainInt reads a JSON integer at the start of s: an optional minus, then
// 0 or digits without a leading zero, that fits an int64; it returns the
// value and what follows it.
func plainInt(s string) (n int64, rest string, ok bool) {
	end := 0
	if strings.HasPrefix(s, "-") {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits || (s[digits] == '0' && end > digits+1) {
		return 0, "", false
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, s[end:], true
}
