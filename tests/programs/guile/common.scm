;;; common.scm — what the collector-stressing programs share: a checksum
;;; step and a printer of labelled results (loaded by each with `load').

(define (mix h x) (modulo (+ (* h 31) x) 1000000007))
(define (say label . values)
  (display label)
  (for-each (lambda (v) (display " ") (display v)) values)
  (newline))
