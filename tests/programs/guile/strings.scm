;;; strings.scm N — strings and ports: N lines written to a string port and
;;; read back, a large datum written and read again, symbols interned by the
;;; thousand (the symbol table is a weak set) and dropped, string-append,
;;; substring, string-split and string-join, number->string round trips and
;;; wide (non-Latin-1) strings.  Prints counts and checksums only.

(use-modules (srfi srfi-1) (ice-9 rdelim))

(define n (string->number (cadr (command-line))))

;; mix and say (common.scm): checksums and printing
(load "common.scm")
(define (string-checksum s)
  (string-fold (lambda (c h) (mix h (char->integer c))) 7 s))

;; N lines through a string port
(define text
  (call-with-output-string
    (lambda (port)
      (do ((i 0 (+ i 1))) ((= i n))
        (write i port)
        (display " line " port)
        (write (number->string (* i i) 7) port)
        (newline port)))))
(say "written:" (string-length text) (string-checksum text))

(define lines
  (call-with-input-string text
    (lambda (port)
      (let loop ((acc '()))
        (let ((line (read-line port)))
          (if (eof-object? line)
              (reverse acc)
              (loop (cons line acc))))))))
(say "lines:" (length lines)
     (fold (lambda (l h) (mix h (string-length l))) 0 lines))

;; split and join every line, then read the fields back as data
(define fields (map (lambda (l) (string-split l #\space)) lines))
(define rejoined (map (lambda (f) (string-join (reverse f) "|")) fields))
(say "split+join:" (fold (lambda (s h) (mix h (string-checksum s))) 0 (take rejoined 1000))
     (apply + (map length fields)))
(define numbers
  (map (lambda (f) (with-input-from-string (car f) read)) fields))
(say "read back:" (equal? numbers (iota n)))

;; a large nested datum: write, read, compare
(define datum
  (map (lambda (i)
         (list i (number->string i)
               (string->symbol (string-append "s" (number->string (modulo i 500))))
               (vector i (* 1.5 i) (list 'q i)) (cons "str" #\x)))
       (iota (quotient n 4))))
(define datum-text (object->string datum))
(define datum-again (with-input-from-string datum-text read))
(say "datum:" (string-length datum-text) (equal? datum datum-again))

;; interned symbols: many made and dropped, a few kept
(define kept-symbols
  (let loop ((i 0) (kept '()))
    (if (= i n)
        kept
        (let ((sym (string->symbol (string-append "temporary-symbol-" (number->string i)))))
          (loop (+ i 1) (if (zero? (modulo i 1000)) (cons sym kept) kept))))))
(gc)
(say "symbols kept:" (length kept-symbols)
     (every (lambda (s) (eq? s (string->symbol (symbol->string s)))) kept-symbols))

;; string building: append, substring, reverse, case
(define big
  (let loop ((i 0) (parts '()))
    (if (= i 2000)
        (apply string-append (reverse parts))
        (loop (+ i 1) (cons (string-append "<" (number->string i) ":"
                                            (make-string (modulo i 37) #\a) ">")
                            parts)))))
(say "big string:" (string-length big) (string-checksum big))
(say "substrings:"
     (fold (lambda (i h)
             (mix h (string-checksum (string-upcase (substring big i (+ i 50))))))
           0 (iota 2000 0 13)))
(say "reverse:" (string-checksum (string-reverse big)))

;; wide characters
(define wide
  (list->string (map (lambda (i) (integer->char (+ #x3b1 (modulo i 25)))) (iota 5000))))
(define wide-port-text
  (call-with-output-string (lambda (p) (write wide p) (display (string-upcase wide) p))))
(say "wide:" (string-length wide-port-text) (string-checksum wide-port-text))

;; numbers to strings and back, in several radixes
(say "radix:"
     (fold (lambda (i h)
             (let ((x (* i 7919)))
               (mix h (+ (string->number (number->string x 2) 2)
                         (string->number (number->string x 16) 16)
                         (string-length (number->string (exact->inexact (/ x 3))))))))
           0 (iota (quotient n 2))))
(say "still alive:" (length lines) (string-length text))
