# lists.nix — long lists: genList, map, filter, foldl', sort, partition and
# concatLists over n pseudo-random integers.
{ n }:
let
  inherit (builtins) genList length foldl' elemAt filter map sort concatLists partition;
  mod = a: b: a - a / b * b;
  rand = i: mod (i * 7919 + 104729) 1000003;
  xs = genList rand n;
  sum = foldl' (a: b: a + b) 0;
  evens = filter (x: mod x 2 == 0) xs;
  squares = map (x: x * x) evens;
  part = partition (x: x < 500000) xs;
  sorted = sort (a: b: a < b) (genList (i: elemAt xs (i * 7)) (n / 7));
  chunks = genList (c: genList (j: elemAt xs (c * 100 + j)) 100) (n / 100);
  flat = concatLists chunks;
  # the last digits of a tenth of the list, one filter per digit
  tenth = genList (elemAt xs) (n / 10);
  histogram = genList (k: length (filter (x: mod x 10 == k) tenth)) 10;
  # a short list mapped over again and again, lazily, then forced
  rounds = foldl' (acc: r: map (x: x + r) acc) (genList (i: i) 1000) (genList (r: r) (n / 2000));
in {
  length = length xs;
  sum = sum xs;
  evens = length evens;
  sumSquares = sum squares;
  low = length part.right;
  high = length part.wrong;
  sortedHead = genList (elemAt sorted) 10;
  sortedLast = elemAt sorted (length sorted - 1);
  sortedSum = sum sorted;
  flatSame = flat == genList (elemAt xs) (length flat);
  inherit histogram;
  rounds = sum rounds;
}
