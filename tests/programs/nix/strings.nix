# strings.nix — string building: concatStringsSep, interpolation,
# replaceStrings, split, substring, repeated appends, hashes of the results.
{ n }:
let
  inherit (builtins) genList concatStringsSep stringLength substring replaceStrings split
    filter isString length hashString foldl' elemAt map;
  mod = a: b: a - a / b * b;
  words = genList (i: "w${toString (mod (i * 37) 1009)}") n;
  text = concatStringsSep " " words;
  replaced = replaceStrings [ "w1" "w2" "w3" ] [ "W-one" "W-two" "W-three" ] text;
  parts = filter isString (split "w10+" text);
  lines = genList (i: "line ${toString i}: ${elemAt words i} ${elemAt words (n - 1 - i)}\n") n;
  doc = concatStringsSep "" lines;
  # a string grown by appending, each + copying it
  appended = foldl' (s: w: s + w + ",") "" (genList (elemAt words) (n / 50));
  tagged = map (w: "<${w}|${toString (stringLength w)}>") words;
  pieces = genList (i: substring (i * 3) 5 text) (n / 10);
in {
  length = stringLength text;
  hash = hashString "sha256" text;
  replacedLength = stringLength replaced;
  replacedHash = hashString "sha256" replaced;
  parts = length parts;
  docLength = stringLength doc;
  docHash = hashString "sha256" doc;
  docHead = substring 0 120 doc;
  appended = stringLength appended;
  appendedTail = substring (stringLength appended - 40) 40 appended;
  tagged = hashString "sha1" (concatStringsSep "" tagged);
  pieces = concatStringsSep "/" (genList (i: elemAt pieces (i * 97)) 20);
}
