;;; threads.scm N — several threads allocating at once: par-map and
;;; n-par-for-each over allocation-heavy work, futures, a producer and
;;; consumers passing fresh lists through a queue guarded by a mutex and a
;;; condition variable, threads that each fill their own hash table, and an
;;; explicit collection from one thread while the others allocate.  Results
;;; are gathered in a fixed order, so the output is the same on every run.

(use-modules (ice-9 threads) (ice-9 futures) (srfi srfi-1))

(define n (string->number (cadr (command-line))))

;; mix and say (common.scm): checksums and printing
(load "common.scm")

;; allocation-heavy work: a list, a sort, strings, a vector.  Loops, not
;; deep recursion: Guile 3.0.8 crashes now and then, on Boehm as well, when
;; several threads grow their VM stacks at once (`map' over a list of
;; 20000 recurses 20000 deep).
(define (work k)
  (let* ((l (let loop ((i 0) (acc '()))
              (if (= i n)
                  acc
                  (loop (+ i 1) (cons (modulo (* (+ i 1) 7919 (+ k 1)) 100003) acc)))))
         (s (sort l <))
         (strs (let loop ((l (take s 200)) (acc '()))
                 (if (null? l) acc (loop (cdr l) (cons (number->string (car l)) acc)))))
         (v (list->vector (reverse s))))
    (mix (mix (fold + 0 s) (string-length (string-concatenate strs)))
         (vector-ref v 0))))

(say "par-map:" (par-map work (iota 12)))

(define results (make-vector 12 #f))
(n-par-for-each 3 (lambda (k) (vector-set! results k (work (+ k 100)))) (iota 12))
(say "n-par-for-each:" (vector->list results))

(define futures (map (lambda (k) (future (work (+ k 200)))) (iota 8)))
(say "futures:" (map touch futures))

;; producer/consumers through a queue
(define queue '())
(define done #f)
(define lock (make-mutex))
(define ready (make-condition-variable))

(define (produce! count)
  (do ((i 0 (+ i 1))) ((= i count))
    (let ((item (iota 50 i)))
      (with-mutex lock
        (set! queue (cons item queue))
        (signal-condition-variable ready))))
  (with-mutex lock
    (set! done #t)
    (broadcast-condition-variable ready)))

(define (consume!)
  (let loop ((sum 0) (items 0))
    (let ((item (with-mutex lock
                  (let wait ()
                    (cond
                     ((pair? queue)
                      (let ((x (car queue))) (set! queue (cdr queue)) x))
                     (done #f)
                     (else (wait-condition-variable ready lock) (wait)))))))
      (if item
          (loop (+ sum (fold + 0 (map (lambda (x) (* x 2)) item))) (+ items 1))
          (cons sum items)))))

(define consumers (map (lambda (i) (call-with-new-thread consume!)) (iota 3)))
(define producer (call-with-new-thread (lambda () (produce! (quotient n 2)))))
(join-thread producer)
(define consumed (map join-thread consumers))
(say "queue: items" (fold + 0 (map cdr consumed)) "sum" (fold + 0 (map car consumed)))

;; each thread fills its own table; one thread collects meanwhile
(define (fill-table k)
  (let ((table (make-hash-table)))
    (do ((i 0 (+ i 1))) ((= i (quotient n 2)))
      (hash-set! table (string-append "k" (number->string (+ i k))) (list i k)))
    (hash-fold (lambda (key v acc) (+ acc (car v) (string-length key))) 0 table)))
(define fillers (map (lambda (k) (call-with-new-thread (lambda () (fill-table k)))) (iota 4)))
(define collector
  (call-with-new-thread
   (lambda () (do ((i 0 (+ i 1))) ((= i 5)) (gc) (yield)) 'collected)))
(say "tables:" (map join-thread fillers) (join-thread collector))

;; a mutex-protected counter bumped by many threads
(define counter 0)
(define counter-lock (make-mutex))
(define bumpers
  (map (lambda (t)
         (call-with-new-thread
          (lambda ()
            (do ((i 0 (+ i 1))) ((= i 2000))
              (with-mutex counter-lock (set! counter (+ counter 1)))
              (when (zero? (modulo i 100)) (make-list 100 t))))))
       (iota 8)))
(for-each join-thread bumpers)
(say "counter:" counter)
