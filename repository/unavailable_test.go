package repository

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
)

// TestTranslateUnavailable: an error that means the database cannot answer
// for now becomes models.ErrUnavailable, with its cause kept; a request's
// own errors and the client's cancellation do not.
func TestTranslateUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"statement timeout", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "57014"}), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"reset", syscall.ECONNRESET, true},
		{"cut mid-answer", io.ErrUnexpectedEOF, true},
		{"bad connection", driver.ErrBadConn, true},
		{"closed by pgx", pgconn.ErrConnClosed, true},
		{"no connection in time", fmt.Errorf("wait: %w", context.DeadlineExceeded), true},
		{"client went away", context.Canceled, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"row security refusal", &pgconn.PgError{Code: "42501"}, false},
		{"not found", gorm.ErrRecordNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := translate(tt.err)
			if errors.Is(got, models.ErrUnavailable) != tt.want {
				t.Errorf("translate(%v) = %v; want unavailable %v", tt.err, got, tt.want)
			}
			if tt.want && !errors.Is(got, tt.err) {
				t.Errorf("translate(%v) = %v; want its cause kept", tt.err, got)
			}
		})
	}
}
