;;; ledger.scm — a small bank ledger, the module that the guile workload
;;; compiles with `guild compile' and then runs from the compiled file:
;;; records, closures, syntax-rules and syntax-case macros, a leftist-heap
;;; scheduler, an expression parser and evaluator, exact arithmetic and
;;; string ports.  (main N) prints checksums only, the same on every run.

(define-module (ledger)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-11)
  #:use-module (ice-9 match)
  #:export (main))

;;; ---- Macros

(define-syntax while
  (syntax-rules ()
    ((_ cond body ...)
     (let loop () (when cond body ... (loop))))))

(define-syntax inc!
  (syntax-rules ()
    ((_ var) (set! var (+ var 1)))
    ((_ var n) (set! var (+ var n)))))

(define-syntax push!
  (syntax-rules ()
    ((_ item place) (set! place (cons item place)))))

;; (define-enum kind (deposit withdrawal transfer)) defines kind-deposit = 0,
;; ..., kind-count and kind->symbol.
(define-syntax define-enum
  (lambda (stx)
    (syntax-case stx ()
      ((_ prefix (name ...))
       (let* ((p (syntax->datum #'prefix))
              (names (syntax->datum #'(name ...)))
              (mk (lambda (suffix)
                    (datum->syntax #'prefix
                                   (symbol-append p '- suffix)))))
         (with-syntax (((const ...) (map mk names))
                       ((index ...) (iota (length names)))
                       (count (mk 'count))
                       (to-symbol (datum->syntax #'prefix
                                                 (symbol-append p '->symbol))))
           #'(begin
               (define const index) ...
               (define count (length '(name ...)))
               (define (to-symbol i) (list-ref '(name ...) i)))))))))

(define-enum kind (deposit withdrawal transfer interest fee))

;; (checked-let ((x expr pred?) ...) body ...): binds, checks each value.
(define-syntax checked-let
  (syntax-rules ()
    ((_ () body ...) (let () body ...))
    ((_ ((var expr pred) rest ...) body ...)
     (let ((var expr))
       (unless (pred var)
         (error "checked-let: bad value" 'var var))
       (checked-let (rest ...) body ...)))))

;;; ---- Deterministic pseudo-random numbers (a closure over its state)

(define (make-rng seed)
  (let ((state seed))
    (lambda (limit)
      (set! state (modulo (+ (* state 1103515245) 12345) 2147483648))
      (modulo (quotient state 65536) limit))))

;;; ---- Records

(define-record-type <account>
  (make-account id owner balance history)
  account?
  (id account-id)
  (owner account-owner)
  (balance account-balance set-account-balance!)
  (history account-history set-account-history!))

(define-record-type <txn>
  (make-txn seq kind from to amount memo)
  txn?
  (seq txn-seq)
  (kind txn-kind)
  (from txn-from)
  (to txn-to)
  (amount txn-amount)
  (memo txn-memo))

;;; ---- A leftist heap of transactions, ordered by (amount, seq)

(define-record-type <heap>
  (make-heap-node rank item left right)
  heap-node?
  (rank heap-rank)
  (item heap-item)
  (left heap-left)
  (right heap-right))

(define empty-heap '())
(define (heap-empty? h) (null? h))
(define (rank h) (if (null? h) 0 (heap-rank h)))

(define (txn<? a b)
  (or (< (txn-amount a) (txn-amount b))
      (and (= (txn-amount a) (txn-amount b))
           (< (txn-seq a) (txn-seq b)))))

(define (heap-merge a b)
  (cond
   ((null? a) b)
   ((null? b) a)
   ((txn<? (heap-item b) (heap-item a)) (heap-merge b a))
   (else
    (let ((l (heap-left a))
          (r (heap-merge (heap-right a) b)))
      (if (>= (rank l) (rank r))
          (make-heap-node (+ (rank r) 1) (heap-item a) l r)
          (make-heap-node (+ (rank l) 1) (heap-item a) r l))))))

(define (heap-insert h item)
  (heap-merge h (make-heap-node 1 item '() '())))

(define (heap-pop h)
  (values (heap-item h) (heap-merge (heap-left h) (heap-right h))))

;;; ---- Closures: counters, accumulators, memoization, composition

(define (make-counter)
  (let ((n 0))
    (lambda () (inc! n) n)))

(define (make-accumulator)
  (let ((total 0) (count 0))
    (case-lambda
      (() (values total count))
      ((x) (inc! total x) (inc! count) total))))

(define (memoize f)
  (let ((cache (make-hash-table)))
    (lambda (n)
      (or (hash-ref cache n)
          (let ((v (f n)))
            (hash-set! cache n v)
            v)))))

(define (compose . fs)
  (if (null? fs)
      (lambda (x) x)
      (lambda (x) ((car fs) ((apply compose (cdr fs)) x)))))

(define fib
  (memoize (lambda (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))))

;;; ---- Expression language: tokenizer, parser, evaluator

(define (tokenize str)
  (let loop ((chars (string->list str)) (tokens '()))
    (match chars
      (() (reverse tokens))
      (((? char-whitespace?) . rest) (loop rest tokens))
      (((? char-numeric? c) . rest)
       (let num ((rest rest) (digits (list c)))
         (if (and (pair? rest) (char-numeric? (car rest)))
             (num (cdr rest) (cons (car rest) digits))
             (loop rest (cons (string->number (list->string (reverse digits)))
                              tokens)))))
      (((? char-alphabetic? c) . rest)
       (let word ((rest rest) (letters (list c)))
         (if (and (pair? rest) (char-alphabetic? (car rest)))
             (word (cdr rest) (cons (car rest) letters))
             (loop rest (cons (string->symbol
                               (list->string (reverse letters)))
                              tokens)))))
      ((c . rest) (loop rest (cons c tokens))))))

;; expr := term (('+' | '-') term)* ; term := factor (('*' | '/') factor)*
;; factor := number | name | '(' expr ')'
(define (parse tokens)
  (define (peek) (if (null? tokens) 'eof (car tokens)))
  (define (next!) (let ((t (car tokens))) (set! tokens (cdr tokens)) t))
  (define (expr)
    (let loop ((left (term)))
      (case (peek)
        ((#\+) (next!) (loop (list '+ left (term))))
        ((#\-) (next!) (loop (list '- left (term))))
        (else left))))
  (define (term)
    (let loop ((left (factor)))
      (case (peek)
        ((#\*) (next!) (loop (list '* left (factor))))
        ((#\/) (next!) (loop (list '/ left (factor))))
        (else left))))
  (define (factor)
    (let ((t (next!)))
      (cond
       ((number? t) t)
       ((symbol? t) t)
       ((eqv? t #\()
        (let ((e (expr)))
          (next!)
          e))
       (else (error "parse: unexpected token" t)))))
  (expr))

(define (evaluate e env)
  (match e
    ((? number?) e)
    ((? symbol?) (cdr (assq e env)))
    (('+ a b) (+ (evaluate a env) (evaluate b env)))
    (('- a b) (- (evaluate a env) (evaluate b env)))
    (('* a b) (* (evaluate a env) (evaluate b env)))
    (('/ a b) (let ((d (evaluate b env)))
                (if (zero? d) 0 (/ (evaluate a env) d))))))

(define (unparse e)
  (call-with-output-string
    (lambda (port)
      (let walk ((e e))
        (match e
          ((op a b)
           (display "(" port) (walk a) (display " " port)
           (display op port) (display " " port) (walk b) (display ")" port))
          (x (display x port)))))))

;;; ---- The ledger

(define (open-accounts n rng)
  (list->vector
   (map (lambda (i)
          (make-account i
                        (string-append "owner-" (number->string i))
                        (* 100 (+ 1 (rng 50)))
                        '()))
        (iota n))))

(define (random-txn seq accounts rng)
  (let* ((n (vector-length accounts))
         (k (rng kind-count))
         (from (rng n))
         (to (modulo (+ from 1 (rng (- n 1))) n)))
    (make-txn seq k from to (+ 1 (rng 500))
              (string-append (symbol->string (kind->symbol k))
                             "#" (number->string seq)))))

(define (apply-txn! accounts t fees)
  (checked-let ((from (vector-ref accounts (txn-from t)) account?)
                (to (vector-ref accounts (txn-to t)) account?)
                (amount (txn-amount t) positive?))
    (define (post! acct delta)
      (set-account-balance! acct (+ (account-balance acct) delta))
      (set-account-history! acct (cons (cons (txn-seq t) delta)
                                       (account-history acct))))
    (let ((k (txn-kind t)))
      (cond
       ((= k kind-deposit) (post! to amount))
       ((= k kind-withdrawal)
        (if (>= (account-balance from) amount)
            (post! from (- amount))
            (fees 1)))
       ((= k kind-transfer)
        (when (>= (account-balance from) amount)
          (post! from (- amount))
          (post! to amount)))
       ((= k kind-interest)
        ;; exact rational interest, rounded to the nearest unit
        (post! to (round (* (account-balance to) 3/1000))))
       ((= k kind-fee) (post! from -1) (fees 1))))))

(define (checksum-accounts accounts)
  (let loop ((i 0) (h 17))
    (if (= i (vector-length accounts))
        h
        (let ((a (vector-ref accounts i)))
          (loop (+ i 1)
                (modulo (+ (* h 31) (account-balance a)
                           (length (account-history a)))
                        1000000007))))))

(define (report accounts top)
  ;; the TOP richest accounts, ties broken by id
  (let ((sorted (sort (vector->list accounts)
                      (lambda (a b)
                        (or (> (account-balance a) (account-balance b))
                            (and (= (account-balance a) (account-balance b))
                                 (< (account-id a) (account-id b))))))))
    (call-with-output-string
      (lambda (port)
        (for-each (lambda (a)
                    (format port "  ~a: ~a (~a entries)~%"
                            (account-owner a) (account-balance a)
                            (length (account-history a))))
                  (take sorted top))))))

(define (compound principal rate years)
  ;; exact: principal * (1 + rate)^years
  (* principal (expt (+ 1 rate) years)))

;;; ---- Main

(define (main n)
  (let* ((rng (make-rng 20240601))
         (accounts (open-accounts (max 10 (quotient n 50)) rng))
         (seq (make-counter))
         (queue empty-heap)
         (fee-acc (make-accumulator))
         (kinds (make-vector kind-count 0)))
    ;; schedule N transactions, then apply them smallest first
    (let loop ((i 0))
      (when (< i n)
        (set! queue (heap-insert queue (random-txn (seq) accounts rng)))
        (loop (+ i 1))))
    (let ((applied 0) (last-amount 0) (ordered #t))
      (while (not (heap-empty? queue))
        (let-values (((t rest) (heap-pop queue)))
          (when (< (txn-amount t) last-amount) (set! ordered #f))
          (set! last-amount (txn-amount t))
          (vector-set! kinds (txn-kind t) (+ 1 (vector-ref kinds (txn-kind t))))
          (apply-txn! accounts t fee-acc)
          (inc! applied)
          (set! queue rest)))
      (format #t "ledger: ~a transactions applied, in order: ~a~%" applied ordered))
    (format #t "ledger: kinds ~a~%"
            (map (lambda (i) (cons (kind->symbol i) (vector-ref kinds i)))
                 (iota kind-count)))
    (let-values (((total count) (fee-acc)))
      (format #t "ledger: fees ~a in ~a events~%" total count))
    (format #t "ledger: checksum ~a~%" (checksum-accounts accounts))
    (display (report accounts 3))
    ;; expressions over the balances of the first accounts
    (let* ((env (map (lambda (name i)
                       (cons name (account-balance (vector-ref accounts i))))
                     '(a b c d e) (iota 5)))
           (sources '("a + b * c" "(a + b) * (c - d) / e" "a * a * a - b"
                      "((a))+((b)) - c*d*e/(a+1)"))
           (results (map (lambda (s)
                           (let ((tree (parse (tokenize s))))
                             (list (unparse tree) (evaluate tree env))))
                         sources)))
      (for-each (lambda (r) (format #t "expr: ~a = ~a~%" (car r) (cadr r)))
                results))
    ;; closures and exact arithmetic
    (format #t "fib(300) mod 1e9+7 = ~a~%" (modulo (fib 300) 1000000007))
    (format #t "compose: ~a~%"
            ((compose (lambda (x) (* x 2)) (lambda (x) (+ x 3)) abs) -7))
    (let ((c (compound 1000 5/100 50)))
      (format #t "compound: ~a digits of numerator, ~a~%"
              (string-length (number->string (numerator c)))
              (exact->inexact (round c))))))
