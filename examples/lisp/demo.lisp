; demo.lisp — builds and discards a lot of structure for mgc to collect.
; Run by `make demo` as: build/examples/lisp examples/lisp/demo.lisp

(define (length l n) (if (null? l) n (length (cdr l) (+ n 1))))
(define (reverse-onto l acc)
  (if (null? l) acc (reverse-onto (cdr l) (cons (car l) acc))))

; --- Binary trees: a leaf is (() . ()), a node (left . right).
(define (make-tree d)
  (if (= d 0)
      (cons '() '())
      (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (count-tree t)
  (if (null? (car t)) 1 (+ 1 (count-tree (car t)) (count-tree (cdr t)))))
(define (trees i d acc)
  (if (= i 0) acc (trees (- i 1) d (+ acc (count-tree (make-tree d))))))

(define long-lived (make-tree 14))
(define (tree-round d)
  (display "trees of depth ") (display d) (display ": ")
  (display (trees (quotient 256 d) d 0)) (display " nodes built and dropped")
  (newline))
(tree-round 4)
(tree-round 8)
(tree-round 12)
(display "long-lived tree still has ") (display (count-tree long-lived))
(display " nodes") (newline)

; --- Sieve of Eratosthenes over lists.
(define (range a b acc) (if (< b a) acc (range a (- b 1) (cons b acc))))
(define (drop-multiples p l acc)
  (if (null? l)
      (reverse-onto acc '())
      (drop-multiples p (cdr l)
                      (if (= 0 (remainder (car l) p)) acc (cons (car l) acc)))))
(define (sieve l primes)
  (if (null? l)
      (reverse-onto primes '())
      (sieve (drop-multiples (car l) (cdr l) '()) (cons (car l) primes))))
(define (last l) (if (null? (cdr l)) (car l) (last (cdr l))))
(define (sieve-rounds i n)
  (let ((primes (sieve (range 2 n '()) '())))
    (if (= i 1)
        primes
        (sieve-rounds (- i 1) n))))
(define primes (sieve-rounds 5 3000))
(display "primes below 3000: ") (display (length primes 0))
(display ", the last ") (display (last primes)) (newline)
(define (take l n) (if (= n 0) '() (cons (car l) (take (cdr l) (- n 1)))))
(display "the first ten: ") (display (take primes 10)) (newline)

; --- Strings: build long ones a piece at a time, keep only their lengths.
(define (join i n s)
  (if (> i n) s (join (+ i 1) n (string-append s (number->string i) ","))))
(define (string-rounds i total)
  (if (= i 0)
      total
      (string-rounds (- i 1) (+ total (string-length (join 1 (* i 100) ""))))))
(display "characters in strings built and dropped: ")
(display (string-rounds 12 0)) (newline)
(define greeting (string-append "hello" ", " "world"))
(display greeting) (display " (") (display (string-length greeting))
(display " characters)") (newline)

; --- File ports: opened and never closed; their finalizers close them.
(define (scribble i)
  (if (= i 0)
      'done
      (begin
        (write-string (string-append "line " (number->string i) "\n")
                      (open-output-file "/dev/null"))
        (scribble (- i 1)))))
(display "ports: ") (display (scribble 3000))
(display ", 3000 opened and dropped") (newline)

(let ((a 1) (b 2))
  (set! a (+ a b))
  (display "let and set!: ") (display (list a b (* a b))) (newline))
