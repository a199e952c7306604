;;; lists.scm N — long lists and vectors: iota, map, filter, fold, sort,
;;; append, reverse and append-reverse! over N elements, association
;;; lists, a vector of vectors, and a non-tail recursion N/4 deep that keeps
;;; a fresh list in every frame (the VM stack is then mostly heap
;;; pointers).  Prints sums and checksums only.

(use-modules (srfi srfi-1))

(define n (string->number (cadr (command-line))))

;; mix and say (common.scm): checksums and printing
(load "common.scm")
(define (checksum lst) (fold (lambda (x h) (mix h x)) 7 lst))

;; deterministic pseudo-random numbers
(define seed 12345)
(define (rand limit)
  (set! seed (modulo (+ (* seed 1103515245) 12345) 2147483648))
  (modulo (quotient seed 16) limit))

(define numbers (iota n))
(say "iota:" (length numbers) (fold + 0 numbers))

(define squares (map (lambda (x) (* x x)) numbers))
(define evens (filter even? squares))
(say "squares:" (checksum squares) "evens:" (length evens) (checksum evens))

(define twice (append numbers (reverse numbers)))
(say "append+reverse:" (length twice) (checksum twice))
;; append-reverse! (in C) reuses only the pairs it finds in the heap
(define reused (append-reverse! (list-copy numbers) (list 'end)))
(say "append-reverse!:" (length reused) (checksum (cdr (reverse reused))))

(define shuffled (map (lambda (i) (rand 1000000)) numbers))
(define sorted (sort shuffled <))
(say "sort:" (checksum sorted) "ascending:"
     (let loop ((l sorted))
       (or (null? (cdr l)) (and (<= (car l) (cadr l)) (loop (cdr l))))))
(say "delete-duplicates:" (length (delete-duplicates (take sorted (min n 4000)))))

;; an association list of strings, looked up from the end
(define alist (map (lambda (i) (cons i (number->string i 16))) (iota 3000)))
(say "assv:" (checksum (map (lambda (i) (string-length (cdr (assv i alist))))
                            (iota 3000 2999 -1))))

;; vectors: fill, map through lists, a matrix product
(define v (list->vector squares))
(let loop ((i 0))
  (when (< i (vector-length v))
    (vector-set! v i (modulo (+ (vector-ref v i) i) 65521))
    (loop (+ i 1))))
(say "vector:" (vector-length v) (checksum (vector->list v)))

(define (make-matrix rows cols f)
  (let ((m (make-vector rows)))
    (do ((i 0 (+ i 1))) ((= i rows) m)
      (let ((row (make-vector cols)))
        (do ((j 0 (+ j 1))) ((= j cols))
          (vector-set! row j (f i j)))
        (vector-set! m i row)))))
(define (matrix-ref m i j) (vector-ref (vector-ref m i) j))
(define (matrix-mul a b size)
  (make-matrix size size
               (lambda (i j)
                 (let loop ((k 0) (sum 0))
                   (if (= k size)
                       sum
                       (loop (+ k 1) (+ sum (* (matrix-ref a i k)
                                               (matrix-ref b k j)))))))))
(define size 40)
(define a (make-matrix size size (lambda (i j) (- i j))))
(define b (make-matrix size size (lambda (i j) (+ (* i 3) j 1))))
(define c (matrix-mul a b size))
(say "matrix:" (checksum (append-map vector->list (vector->list c))))

;; non-tail recursion holding heap objects in its frames, with collections
;; at the bottom
(define (deep k)
  (if (= k 0)
      (begin (gc) '())
      (let ((cell (list k (number->string k))))
        (cons cell (deep (- k 1))))))
(define d (deep (quotient n 4)))
(say "deep:" (length d) (checksum (map (lambda (c) (string-length (cadr c))) d)))

;; many short-lived lists while the long ones stay alive
(define churn
  (let loop ((i 0) (acc 0))
    (if (= i 200)
        acc
        (loop (+ i 1) (mix acc (length (filter odd? (map (lambda (x) (+ x i))
                                                         (iota 5000)))))))))
(say "churn:" churn)
(say "still alive:" (length numbers) (length squares) (vector-length v))
