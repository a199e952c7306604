;;; tables.scm N — hash tables (equal?, eqv? and string keys, removal,
;;; resizing), records and closures by the thousand, and bignums and
;;; rationals (factorials, Fibonacci numbers, exact sums).  Prints counts
;;; and checksums only: table order depends on addresses, so nothing is
;;; printed in table order.

(use-modules (srfi srfi-1) (srfi srfi-9))

(define n (string->number (cadr (command-line))))

;; mix and say (common.scm): checksums and printing
(load "common.scm")

;; ---- hash tables
(define by-string (make-hash-table))
(define by-number (make-hash-table))
(do ((i 0 (+ i 1))) ((= i n))
  (hash-set! by-string (string-append "key-" (number->string i)) i)
  (hashv-set! by-number i (list i (* i i))))
(say "tables:" (hash-count (const #t) by-string) (hash-count (const #t) by-number))
(say "lookups:"
     (fold (lambda (i acc)
             (+ acc (hash-ref by-string (string-append "key-" (number->string i)) 0)
                (cadr (hashv-ref by-number i '(0 0)))))
           0 (iota n 0 7)))
(do ((i 0 (+ i 2))) ((>= i n))
  (hash-remove! by-string (string-append "key-" (number->string i)))
  (hashv-remove! by-number i))
(say "after removal:" (hash-count (const #t) by-string)
     (hash-fold (lambda (k v acc) (+ acc v)) 0 by-string)
     (hash-fold (lambda (k v acc) (+ acc (car v))) 0 by-number))

;; equal?-keyed table with list keys
(define by-list (make-hash-table))
(do ((i 0 (+ i 1))) ((= i (quotient n 2)))
  (hash-set! by-list (list (modulo i 100) (number->string (quotient i 100))) i))
(say "list keys:" (hash-count (const #t) by-list)
     (hash-ref by-list (list 42 (number->string 17)) #f))

;; ---- records and closures
(define-record-type <point>
  (make-point x y tag)
  point?
  (x point-x set-point-x!)
  (y point-y)
  (tag point-tag))

(define points
  (map (lambda (i) (make-point i (- n i) (string-append "p" (number->string i))))
       (iota n)))
(for-each (lambda (p) (set-point-x! p (* 2 (point-x p)))) points)
(say "records:" (length points)
     (fold (lambda (p h) (mix h (+ (point-x p) (point-y p) (string-length (point-tag p)))))
           0 points))

(define (make-adder k) (lambda (x) (+ x k)))
(define (make-stack)
  (let ((items '()) (size 0))
    (lambda (msg . args)
      (case msg
        ((push) (set! items (cons (car args) items)) (set! size (+ size 1)))
        ((pop) (let ((top (car items))) (set! items (cdr items)) (set! size (- size 1)) top))
        ((size) size)))))
(define adders (map make-adder (iota 1000)))
(say "closures:" (fold (lambda (f acc) (mix acc (f acc))) 1 adders))
(define stacks (map (lambda (i) (make-stack)) (iota 100)))
(for-each (lambda (s i) (do ((j 0 (+ j 1))) ((= j 200)) (s 'push (make-point i j 'x))))
          stacks (iota 100))
(say "stacks:" (fold (lambda (s acc) (+ acc (s 'size) (point-y (s 'pop)))) 0 stacks))

;; ---- bignums and rationals
(define (factorial k) (if (= k 0) 1 (* k (factorial (- k 1)))))
(define f1000 (factorial 1000))
(say "1000!:" (string-length (number->string f1000)) (modulo f1000 1000000007))
(define (fib k)
  (let loop ((a 0) (b 1) (i 0))
    (if (= i k) a (loop b (+ a b) (+ i 1)))))
(say "fib(5000):" (string-length (number->string (fib 5000))) (modulo (fib 5000) 999999937))
(define harmonic (fold (lambda (i acc) (+ acc (/ 1 i))) 0 (iota 600 1)))
(say "harmonic(600):" (string-length (number->string (numerator harmonic)))
     (modulo (denominator harmonic) 1000000007))
(define powers (map (lambda (i) (expt 3 (* i 10))) (iota 400)))
(say "powers:" (fold (lambda (p h) (mix h (modulo p 1000000007))) 0 powers)
     (integer-length (apply + powers)))
(say "gcd/lcm:" (gcd (factorial 300) (expt 2 500)) (integer-length (lcm (fib 400) (fib 401))))
(say "exact->inexact:" (exact->inexact (/ (fib 1001) (fib 1000))))
(say "still alive:" (length points) (hash-count (const #t) by-number))
