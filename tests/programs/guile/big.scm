;;; big.scm N — a large live heap: N entries (a vector, a string, a list of
;;; 64 numbers, a boxed float and a bytevector each, about 1.6 KB) kept in
;;; one vector, then half of them replaced while the rest stay live, a
;;; second structure of lists of strings added, then all dropped and
;;; bytevectors and float vectors allocated in their place.  With N =
;;; 150000 the live data peaks near 250 MB.  Prints checksums only.

(use-modules (srfi srfi-1) (rnrs bytevectors))

(define n (string->number (cadr (command-line))))

;; mix and say (common.scm): checksums and printing
(load "common.scm")

(define (make-entry i)
  (let ((bv (make-bytevector 256 (modulo i 256))))
    (bytevector-u32-native-set! bv 0 i)
    (vector i
            (make-string (+ 300 (modulo i 80)) (integer->char (+ 97 (modulo i 26))))
            (iota 64 i)
            (exact->inexact (/ i 7))
            bv
            (number->string i))))

(define (entry-checksum e)
  (+ (vector-ref e 0)
     (string-length (vector-ref e 1))
     (char->integer (string-ref (vector-ref e 1) 0))
     (fold + 0 (vector-ref e 2))
     (inexact->exact (floor (vector-ref e 3)))
     (bytevector-u32-native-ref (vector-ref e 4) 0)
     (bytevector-u8-ref (vector-ref e 4) 255)
     (string-length (vector-ref e 5))))

(define (table-checksum table)
  (let loop ((i 0) (h 0))
    (if (= i (vector-length table))
        h
        (loop (+ i 1) (mix h (entry-checksum (vector-ref table i)))))))

(define table (make-vector n #f))
(do ((i 0 (+ i 1))) ((= i n))
  (vector-set! table i (make-entry i)))
(say "built:" n (table-checksum table))

;; replace every other entry: the old halves become garbage while the
;; table stays live
(do ((i 0 (+ i 2))) ((>= i n))
  (vector-set! table i (make-entry (+ i n))))
(say "replaced:" (table-checksum table))

;; a second structure as large as the first, made of lists of strings,
;; while the table is still live
(define lists
  (map (lambda (i) (map (lambda (j) (number->string (+ i j) 36)) (iota 32)))
       (iota (quotient n 8))))
(say "lists:" (length lists)
     (fold (lambda (l h) (mix h (fold (lambda (s acc) (+ acc (string-length s))) 0 l)))
           0 lists))
(say "both live:" (vector-length table) (length lists))

;; drop everything; allocate bytevectors and float vectors instead
(set! table #f)
(set! lists #f)
(gc)
(define blobs
  (map (lambda (i)
         (let ((bv (make-bytevector 65536 (modulo i 251))))
           (bytevector-u64-native-set! bv 8 (* i i))
           bv))
       (iota (quotient n 250))))
(say "blobs:" (length blobs)
     (fold (lambda (bv h) (mix h (+ (bytevector-u8-ref bv 0)
                                    (bytevector-u64-native-ref bv 8))))
           0 blobs))
(define floats
  (map (lambda (k) (let ((v (make-vector 1000 0.0)))
                     (do ((i 0 (+ i 1))) ((= i 1000) v)
                       (vector-set! v i (* 0.5 (+ i k))))))
       (iota (quotient n 2500))))
(say "floats:" (length floats)
     (fold (lambda (v acc) (+ acc (vector-ref v 999))) 0 floats))
