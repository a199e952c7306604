# attrs.nix — large attribute sets: listToAttrs, mapAttrs, attrNames,
# removeAttrs, intersectAttrs, updates with // (each copies the set),
# grouping folds, a recursive set and a tree of nested sets.
{ n }:
let
  inherit (builtins) listToAttrs genList attrNames attrValues mapAttrs foldl' length
    getAttr hasAttr removeAttrs intersectAttrs elemAt;
  mod = a: b: a - a / b * b;
  sum = foldl' (a: b: a + b) 0;
  name = i: "k${toString i}";
  big = listToAttrs (genList (i: {
    name = name i;
    value = { id = i; sq = i * i; tag = "t${toString (mod (i * 31) 17)}"; };
  }) n);
  names = attrNames big;
  doubled = mapAttrs (k: v: v // { id2 = v.id * 2; key = k; }) big;
  sumIds = foldl' (a: k: a + (getAttr k doubled).id2) 0 names;
  # a set grown a thousand names at a time: every step copies it
  chunk = c: listToAttrs (genList (j: { name = name (c * 1000 + j * 3); value = j; }) 1000);
  merged = foldl' (acc: c: acc // chunk c) { } (genList (c: c) (n / 1000));
  removed = removeAttrs big (genList (i: name (i * 2)) (n / 2));
  common = intersectAttrs removed merged;
  # how many of each tag, one small set updated per element
  groups = foldl' (acc: v: acc // { ${v.tag} = (acc.${v.tag} or 0) + 1; }) { } (attrValues big);
  rs = rec { a = n; b = a + 1; c = b * 10; d = { e = c + a; f = rs2.g; }; };
  rs2 = rec { g = rs.b * 2; h = g + 1; };
  # a tree of nested sets, four children per node
  node = d: if d == 0 then { leaf = d; } else
    listToAttrs (genList (i: { name = "c${toString i}"; value = node (d - 1); }) 4);
  count = t: if t ? leaf then 1 else sum (map count (attrValues t));
  depth = if n >= 100000 then 8 else 6;
in {
  size = length names;
  first = elemAt names 0;
  last = elemAt names (length names - 1);
  inherit sumIds;
  sample = getAttr (name (n / 3)) doubled;
  merged = length (attrNames merged);
  mergedSum = sum (attrValues merged);
  removed = length (attrNames removed);
  common = length (attrNames common);
  hasRemoved = hasAttr (name 2) removed;
  inherit groups rs rs2;
  leaves = count (node depth);
}
