package repository

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
)

// unavailableStates are the SQLSTATEs of a PostgreSQL that cannot answer for
// now, by class (two characters) or by code: connection exceptions (08),
// too many connections (53300), a statement cancelled by statement_timeout
// (57014), and a server shutting down, crashed or starting up (57P01,
// 57P02, 57P03).
var unavailableStates = []string{"08", "53300", "57014", "57P01", "57P02", "57P03"}

// isUnavailable reports whether err means the database cannot answer for
// now, rather than that the request was wrong: the connection was refused,
// reset or cut, the server is shutting down or starting, a statement ran
// past statement_timeout, or no connection was free within the pool's wait.
// The caller's own cancellation (context.Canceled) is not one.
func isUnavailable(err error) bool {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &pgErr):
		for _, s := range unavailableStates {
			if strings.HasPrefix(pgErr.Code, s) {
				return true
			}
		}
		return false
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	}
	for _, e := range []error{
		driver.ErrBadConn, sql.ErrConnDone, pgconn.ErrConnClosed, io.EOF, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, context.DeadlineExceeded,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return pgconn.Timeout(err)
}

// unavailable wraps err, which isUnavailable, as models.ErrUnavailable with
// its cause kept for the log.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", models.ErrUnavailable, err)
}

// Ping checks that the database answers. It returns an error that matches
// models.ErrUnavailable when the database cannot be reached for now, such
// as one still starting, and another error, such as a refused password or
// an unopenable SQLite file, when waiting will not help.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		if isUnavailable(err) {
			return fmt.Errorf("ping database: %w", unavailable(err))
		}
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}
