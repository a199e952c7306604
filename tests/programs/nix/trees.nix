# trees.nix — recursion: binary trees of attribute sets built and walked
# (the GCBench pattern: many short-lived trees beside one long-lived tree),
# a lazily self-referential list, a doubly recursive fib and a list built
# 5000 calls deep.
{ n }:
let
  inherit (builtins) genList foldl' elemAt;
  sum = foldl' (a: b: a + b) 0;
  make = d: if d == 0 then { } else { l = make (d - 1); r = make (d - 1); };
  check = t: if t == { } then 1 else 1 + check t.l + check t.r;
  # n is the depth of the deepest short-lived trees
  pow2 = d: if d == 0 then 1 else 2 * pow2 (d - 1);
  long = make (n - 2);
  depths = genList (i: 4 + 2 * i) ((n - 4) / 2 + 1);
  round = d: let iters = pow2 (n - d + 2); in
    { depth = d; trees = iters; nodes = sum (genList (i: check (make d)) iters); };
  fix = f: let x = f x; in x;
  fibs = fix (self: genList (i: if i < 2 then i else elemAt self (i - 1) + elemAt self (i - 2)) 90);
  fib = i: if i < 2 then i else fib (i - 1) + fib (i - 2);
  # a list built by non-tail recursion, 5000 deep
  upto = i: if i == 0 then [ ] else upto (i - 1) ++ [ i ];
in {
  rounds = map round depths;
  long = check long;
  fib89 = elemAt fibs 89;
  fib = fib (n + 4);
  upto = sum (upto 5000);
}
