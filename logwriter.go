package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushEvery is how long a log line may wait in the buffer.
const logFlushEvery = 100 * time.Millisecond

// logWriter buffers the log and writes it out every logFlushEvery, when the
// buffer fills, and on Close: one write system call per request line cost a
// tenth of a point read. A crash loses at most the last logFlushEvery of
// lines. It is safe for concurrent use.
type logWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogWriter(w io.Writer) *logWriter {
	lw := &logWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go lw.flushLoop()
	return lw
}

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.buf.Write(p)
}

func (lw *logWriter) flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	_ = lw.buf.Flush() // nowhere to report a failing log
}

func (lw *logWriter) flushLoop() {
	defer close(lw.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-lw.stop:
			lw.flush()
			return
		case <-t.C:
			lw.flush()
		}
	}
}

// Close writes out what is buffered and stops the flushing.
func (lw *logWriter) Close() {
	close(lw.stop)
	<-lw.done
}
