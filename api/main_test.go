package api

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // once, before any engine exists: gin's mode is global
	os.Exit(m.Run())
}
