package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gin-gonic/gin"
)

// runBareGin is "loadgen bare-gin --addr A": a Gin engine with no middleware at all serving a
// small JSON object at /ping until it is stopped. It runs as a process of its own so that its
// CPU per request can be read like the server's, and so that it does not share the client's
// runtime (scheduler, garbage collector) as it would in the harness's own process.
func runBareGin(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen bare-gin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/ping", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok", "service": "bare-gin"})
	})
	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startBareGin starts this program again as "bare-gin" on a free loopback port: the ceiling the
// server's ratios are measured against.
func startBareGin(ctx context.Context, dir string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	return startProcess(ctx, self, []string{"bare-gin", "--addr", addr}, os.Environ(), addr, filepath.Join(dir, "bare-gin.log"), "/ping")
}

func bareGinScenario(base string) *scenario {
	return &scenario{name: "bare gin", next: func() (*http.Request, bool) {
		return newRequest("GET", base+"/ping", "", "", nil), true
	}}
}
