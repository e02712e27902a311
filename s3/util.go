package s3

import "net/url"

func pathUnescape(s string) (string, error) { return url.PathUnescape(s) }

// forEach runs fn(0..n-1) on at most par goroutines.
func forEach(n, par int, fn func(int)) {
	sem := make(chan struct{}, par)
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			fn(i)
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
}
