# literal.nix — reads data.nix, a literal list of n records that
# workloads.sh writes (so the parser builds a large expression), and
# summarises it: sums, groups, a lookup set and a hash of its JSON.
{ n }:
let
  inherit (builtins) length foldl' listToAttrs attrNames map filter hashString toJSON
    elemAt stringLength concatStringsSep;
  d = import ./data.nix;
  sum = foldl' (a: b: a + b) 0;
  byName = listToAttrs (map (r: { inherit (r) name; value = r; }) d);
  groups = foldl' (acc: r: acc // { ${r.sub.y} = (acc.${r.sub.y} or 0) + 1; }) { } d;
in {
  count = length d;
  complete = length d == n;
  ids = sum (map (r: r.id) d);
  scores = foldl' (a: r: a + r.v) 0.0 d;
  tagged = length (filter (r: elemAt r.tags 1 == "b${toString (r.sub.x - r.sub.x / 5 * 5)}") d);
  names = length (attrNames byName);
  inherit groups;
  jsonLength = stringLength (toJSON d);
  hash = hashString "sha256" (toJSON d);
  last = elemAt d (n - 1);
  text = stringLength (concatStringsSep "\n" (map (r: "${r.name}: ${r.sub.y}") d));
}
