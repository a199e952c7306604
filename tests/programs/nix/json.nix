# json.nix — toJSON and fromJSON round trips of n records, as a list and as
# an attribute set, and twenty round trips of a smaller document.
{ n }:
let
  inherit (builtins) toJSON fromJSON genList listToAttrs map elemAt length foldl'
    hashString stringLength;
  mod = a: b: a - a / b * b;
  record = i: {
    id = i;
    name = "r${toString i}";
    score = mod i 1000 / 8.0;
    ok = mod i 2 == 0;
    tags = genList (j: "t${toString (mod (i + j) 13)}") (mod i 5);
    nested = { a = [ i (i + 1) null ]; s = "quote \" backslash \\ newline \n tab \t"; };
  };
  data = genList record n;
  js = toJSON data;
  back = fromJSON js;
  js2 = toJSON back;
  byName = listToAttrs (map (r: { name = r.name; value = r; }) back);
  js3 = toJSON byName;
  back3 = fromJSON js3;
  rounds = foldl' (d: r: fromJSON (toJSON (d // { round = r; })))
    { data = genList record (n / 50); } (genList (r: r) 20);
in {
  length = stringLength js;
  hash = hashString "sha256" js;
  same = js == js2;
  equal = back == data;
  byNameLength = stringLength js3;
  byNameHash = hashString "sha256" js3;
  roundTrip = back3 == byName;
  sample = elemAt back 7;
  sampleJSON = toJSON (elemAt data 13);
  rounds = rounds.round;
  roundsLength = length rounds.data;
}
