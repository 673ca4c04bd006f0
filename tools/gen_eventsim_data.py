#!/usr/bin/env python3
"""Reduce eventsim's configuration and data files to the compact C++ header the simulator compiles in.

    python tools/gen_eventsim_data.py [--eventsim DIR] [--out include/churn/detail/eventsim_data.hpp]

DIR defaults to ../shared/data/eventsim (the Interana/eventsim files, MIT; see SOURCE.txt there). The
header is committed, so the library never reads these files at run time. It holds:
  - the 50 states (page, auth, level, method, status) and the union of the transitions of the 26
    configs, stored once, with one probability vector per config;
  - each config's timing scalars (alpha, beta, damping, weekend damping, session gap);
  - the new-session weights and the initial auth/level weights (identical in all 26 configs: checked);
  - the user agents (weights, quoting kept as in the file and in the real logs);
  - the US metropolitan statistical areas with their 2013 population estimates;
  - first names, last names and words for the generated song catalogue (see NAMES below).
Rerunning it on the same inputs produces the same bytes.
"""
import argparse
import csv
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PAGE_ENUM = {
    "About": "about", "Add Friend": "add_friend", "Add to Playlist": "add_to_playlist",
    "Cancel": "cancel", "Cancellation Confirmation": "cancellation_confirmation",
    "Downgrade": "downgrade", "Error": "error", "Help": "help", "Home": "home", "Login": "login",
    "Logout": "logout", "NextSong": "next_song", "Register": "register_",
    "Roll Advert": "roll_advert", "Save Settings": "save_settings", "Settings": "settings",
    "Submit Downgrade": "submit_downgrade", "Submit Registration": "submit_registration",
    "Submit Upgrade": "submit_upgrade", "Thumbs Down": "thumbs_down", "Thumbs Up": "thumbs_up",
    "Upgrade": "upgrade",
}
AUTH_ENUM = {"Logged In": "logged_in", "Logged Out": "logged_out", "Guest": "guest",
             "Cancelled": "cancelled"}
LEVEL_ENUM = {"free": "free", "paid": "paid"}
METHOD_ENUM = {"GET": "get", "PUT": "put"}

# eventsim draws names from the SSA first-name and Census 2000 surname tables, which its repository
# does not ship here; these are the most common US names of those tables, weighted by rank
# (weight ~ 1/rank^0.7), enough for realistic-looking and repeating names.
NAMES_MALE = """James John Robert Michael William David Richard Joseph Thomas Charles Christopher
Daniel Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy
Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott
Brandon Benjamin Samuel Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose
Adam Nathan Henry Douglas Zachary Peter Kyle Ethan Walter Noah Jeremy Christian Keith Roger Terry
Gerald Harold Sean Austin Carl Arthur Lawrence Dylan Jesse Jordan Bryan Billy Joe Bruce Gabriel
Logan Albert Willie Alan Juan Wayne Elijah Randy Roy Vincent Ralph Eugene Russell Bobby Mason
Philip Louis Colin Spencer Caleb Owen Lucas Isaac Luke Ian Evan Cole Devin Blake""".split()
NAMES_FEMALE = """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy
Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah
Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicole
Helen Samantha Katherine Christine Debra Rachel Carolyn Janet Catherine Maria Heather Diane Ruth
Julie Olivia Joyce Virginia Victoria Kelly Lauren Christina Joan Evelyn Judith Megan Andrea
Cheryl Hannah Jacqueline Martha Gloria Teresa Ann Sara Madison Frances Kathryn Janice Jean Abigail
Alice Judy Sophia Grace Denise Amber Doris Marilyn Danielle Beverly Isabella Theresa Diana Natalie
Brittany Charlotte Marie Kayla Alexis Lori Chloe Alyssa Destiny Faith Riley Layla Zoe Ava""".split()
NAMES_LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores
Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner
Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz
Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez
Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross
Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales
Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace
Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro
Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman
Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason
Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren
Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne
Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight
Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry
Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval""".split()

# Words for the generated song catalogue (artists and titles). Plain ASCII letters only, so that the
# JSON writer never has to escape them.
WORDS_ADJ = """Blue Golden Silent Broken Electric Wild Lonely Midnight Burning Crystal Velvet Hollow
Northern Southern Neon Paper Silver Secret Frozen Endless Little Sweet Dark Bright Lost Restless
Wicked Gentle Crimson Faded Hidden Painted Shining Rolling Falling Rising Ancient Modern Savage
Tender Quiet Loud Hungry Lucky Crazy Sacred Scarlet Distant Heavy Easy Strange Perfect Simple
Royal Cosmic Digital Magnetic Rusty Dusty Stormy Sunny Holy Empty Open Final Early Late""".split()
WORDS_NOUN = """Heart Road River Fire Rain Night Dream Light Shadow Ocean Sky Star Moon Sun City Love
Train Highway Mountain Window Mirror Garden Letter Song Summer Winter Angel Ghost Stone Bird Wolf
Tiger Rose Diamond Thunder Storm Wave Horizon Island Desert Forest Echo Memory Kingdom Machine
Radio Engine Signal Circle Castle Bridge Valley Harbor Lantern Compass Anchor Feather Candle Crown
Sparrow Raven Falcon Canyon Meadow Thorn Arrow Anthem Ballad Melody Rhythm Tide Pulse Spark""".split()
WORDS_VERB = """Running Dancing Waiting Falling Calling Chasing Holding Dreaming Breaking Burning
Walking Flying Leaving Coming Fading Shining Crying Singing Turning Drifting Searching Hiding
Rolling Fighting Praying Living Losing Finding Building Wandering""".split()


def die(msg):
    sys.exit(f"gen_eventsim_data.py: {msg}")


def state_key(s):
    return (s["page"], s["auth"], s["level"], s["method"], int(s["status"]))


def cxx_string(s):
    out = []
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}\"\"" for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def rank_weights(names):
    return [max(1, round(1000 / (i + 1) ** 0.7)) for i in range(len(names))]


def load_configs(cfg_dir):
    files = sorted(f for f in os.listdir(cfg_dir) if f.endswith("-config.json"))
    if len(files) != 26:
        die(f"expected 26 *-config.json files in {cfg_dir}, found {len(files)}")
    # Accordion (the template) first, the rest alphabetically: index 0 is the template.
    files.sort(key=lambda f: (not f.startswith("Accordion"), f))
    return [(f[: -len("-config.json")], json.load(open(os.path.join(cfg_dir, f)))) for f in files]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eventsim", default=os.path.join(ROOT, "..", "shared", "data", "eventsim"))
    ap.add_argument("--out", default=os.path.join(ROOT, "include", "churn", "detail", "eventsim_data.hpp"))
    args = ap.parse_args()

    configs = load_configs(os.path.join(args.eventsim, "configs"))
    template = configs[0][1]
    for name, c in configs:
        for key in ("new-session", "levels", "auths", "show-user-details", "new-user-auth",
                    "new-user-level", "churned-state"):
            if c[key] != template[key]:
                die(f"config {name} differs from Accordion in '{key}'; the header stores it once")

    states = set()
    for _, c in configs:
        for t in c["transitions"]:
            states.add(state_key(t["source"]))
            states.add(state_key(t["dest"]))
    for s in template["new-session"]:
        states.add(state_key(s))
    states = sorted(states)
    index = {s: i for i, s in enumerate(states)}
    edges = sorted({(index[state_key(t["source"])], index[state_key(t["dest"])])
                    for _, c in configs for t in c["transitions"]})
    edge_index = {e: i for i, e in enumerate(edges)}
    probs = []
    for name, c in configs:
        p = [0.0] * len(edges)
        for t in c["transitions"]:
            e = edge_index[(index[state_key(t["source"])], index[state_key(t["dest"])])]
            p[e] += float(t["p"])
        out = [0.0] * len(states)
        for (a, _), v in zip(edges, p):
            out[a] += v
        for i, total in enumerate(out):
            if total > 1.0 + 1e-9:
                die(f"config {name}: transitions out of {states[i]} sum to {total} > 1")
        probs.append(p)
    edge_begin = [0] * (len(states) + 1)
    for a, _ in edges:
        edge_begin[a + 1] += 1
    for i in range(len(states)):
        edge_begin[i + 1] += edge_begin[i]

    # User agents: UTF-16 TSV "percent, weight, useragent, Browser, OS".
    raw = open(os.path.join(args.eventsim, "data", "user agents.txt"), "rb").read().decode("utf-16")
    agents = []
    for line in raw.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 3 or not cols[2].strip():
            continue
        agents.append((cols[2].strip(), int(cols[1].strip())))

    # Metropolitan statistical areas (not micropolitan, not divisions), with the 2013 estimate.
    text = open(os.path.join(args.eventsim, "data", "CBSA-EST2013-alldata.csv"), encoding="iso-8859-1").read()
    metros = []
    for row in csv.DictReader(io.StringIO(text)):
        if row["LSAD"] == "Metropolitan Statistical Area" and not row["MDIV"] and row["POPESTIMATE2013"]:
            metros.append((row["NAME"], int(row["POPESTIMATE2013"])))
    if len(metros) < 300:
        die(f"expected about 381 metropolitan areas, found {len(metros)}")

    L = []
    w = L.append
    w("#pragma once")
    w("// GENERATED by tools/gen_eventsim_data.py from the data and configuration files of eventsim")
    w("// (https://github.com/Interana/eventsim, commit f3b19f75619f4dd653832ab32d6f3edded384501, MIT license,")
    w("// (c) Interana): the 26 configs/*-config.json, data/user agents.txt and data/CBSA-EST2013-alldata.csv")
    w("// (US Census Bureau CBSA population estimates). Do not edit; rerun the script.")
    w("// The names and catalogue words at the end are the project's own (see the script).")
    w("#include <array>")
    w("#include <cstdint>")
    w("#include <string_view>")
    w("")
    w("#include <churn/event.hpp>")
    w("")
    w("namespace churn {")
    w("namespace detail {")
    w("namespace eventsim {")
    w("")
    w("/// One state of eventsim's Markov chain.")
    w("struct state_info {")
    w("  churn::page page;")
    w("  churn::auth auth;")
    w("  churn::level level;")
    w("  http_method method;")
    w("  std::int16_t status;")
    w("};")
    w(f"inline constexpr std::size_t state_count = {len(states)};")
    w("inline constexpr std::array<state_info, state_count> states = {{")
    for (page, auth, level, method, status) in states:
        w(f"    {{page::{PAGE_ENUM[page]}, auth::{AUTH_ENUM[auth]}, level::{LEVEL_ENUM[level]}, "
          f"http_method::{METHOD_ENUM[method]}, {status}}},")
    w("}};")
    w("")
    w("/// Transitions of all configs (union), sorted by source; edges of state s are")
    w("/// [edge_begin[s], edge_begin[s + 1]).")
    w(f"inline constexpr std::size_t edge_count = {len(edges)};")
    w("inline constexpr std::array<std::uint8_t, edge_count> edge_target = {")
    for i in range(0, len(edges), 20):
        w("    " + ", ".join(str(b) for _, b in edges[i:i + 20]) + ",")
    w("};")
    w("inline constexpr std::array<std::uint16_t, state_count + 1> edge_begin = {")
    for i in range(0, len(edge_begin), 20):
        w("    " + ", ".join(str(v) for v in edge_begin[i:i + 20]) + ",")
    w("};")
    w("")
    w("/// A config's timing parameters (seconds, and damping factors in [0, 1]).")
    w("struct config_info {")
    w("  std::string_view name;")
    w("  double alpha;                   ///< mean gap between events of a session")
    w("  double beta;                    ///< mean gap between sessions")
    w("  double damping;                 ///< amplitude of the daily cycle")
    w("  double weekend_damping;         ///< share of weekend sessions removed")
    w("  double weekend_damping_offset;  ///< minutes")
    w("  double weekend_damping_scale;   ///< minutes")
    w("  double session_gap;             ///< minimum gap between sessions")
    w("};")
    w(f"inline constexpr std::size_t config_count = {len(configs)};")
    w("inline constexpr std::array<config_info, config_count> configs = {{")
    for name, c in configs:
        w(f"    {{\"{name}\", {float(c['alpha'])!r}, {float(c['beta'])!r}, {float(c['damping'])!r}, "
          f"{float(c['weekend-damping'])!r}, {float(c['weekend-damping-offset'])!r}, "
          f"{float(c['weekend-damping-scale'])!r}, {float(c['session-gap'])!r}}},")
    w("}};")
    w("/// edge_p[c][e]: probability of edge e in config c (0 where the config lacks the edge).")
    w("inline constexpr std::array<std::array<float, edge_count>, config_count> edge_p = {{")
    for (name, _), p in zip(configs, probs):
        w(f"    {{{{  // {name}")
        for i in range(0, len(p), 12):
            w("        " + ", ".join(f"{v!r}f" for v in p[i:i + 12]) + ",")
        w("    }},")
    w("}};")
    w("")
    w("/// Weighted first states of a session (by the session's auth and level).")
    w("struct weighted_state {")
    w("  std::uint8_t state;")
    w("  std::uint32_t weight;")
    w("};")
    ns = [(index[state_key(s)], int(s["weight"])) for s in template["new-session"]]
    w(f"inline constexpr std::array<weighted_state, {len(ns)}> new_session = {{{{")
    for s, wt in ns:
        w(f"    {{{s}, {wt}}},")
    w("}};")
    lv = {x["level"]: x["weight"] for x in template["levels"]}
    au = {x["auth"]: x["weight"] for x in template["auths"]}
    w(f"inline constexpr std::uint32_t initial_free_weight = {lv['free']}, initial_paid_weight = {lv['paid']};")
    w(f"inline constexpr std::uint32_t initial_logged_in_weight = {au['Logged In']}, "
      f"initial_logged_out_weight = {au['Logged Out']};")
    w("")
    w("struct weighted_text {")
    w("  std::string_view text;")
    w("  std::uint32_t weight;")
    w("};")

    def table(name, rows, comment):
        w(f"/// {comment}")
        w(f"inline constexpr std::array<weighted_text, {len(rows)}> {name} = {{{{")
        for text, wt in rows:
            w(f"    {{{cxx_string(text)}, {wt}}},")
        w("}};")

    table("user_agents", agents, "User agents with their weights, quoted as in the file (and the real logs).")
    table("metros", metros, "US metropolitan statistical areas and their 2013 population estimates.")
    table("first_names_male", list(zip(NAMES_MALE, rank_weights(NAMES_MALE))), "Male first names.")
    table("first_names_female", list(zip(NAMES_FEMALE, rank_weights(NAMES_FEMALE))), "Female first names.")
    table("last_names", list(zip(NAMES_LAST, rank_weights(NAMES_LAST))), "Last names.")
    for name, words in (("words_adjective", WORDS_ADJ), ("words_noun", WORDS_NOUN), ("words_verb", WORDS_VERB)):
        w(f"inline constexpr std::array<std::string_view, {len(words)}> {name} = {{")
        for i in range(0, len(words), 10):
            w("    " + ", ".join(f'"{x}"' for x in words[i:i + 10]) + ",")
        w("};")
    w("")
    w("}  // namespace eventsim")
    w("}  // namespace detail")
    w("}  // namespace churn")
    text = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    print(f"wrote {args.out}: {len(text)} bytes, {len(states)} states, {len(edges)} edges, "
          f"{len(configs)} configs, {len(agents)} user agents, {len(metros)} metros")


if __name__ == "__main__":
    main()
