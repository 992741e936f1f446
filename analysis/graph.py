"""A deterministic drawing of the linkage graph for server-rendered SVG.

Each cluster is a disc: members sit on a sunflower spiral (largest volume in the
middle), so a cluster of 300 stays compact and the same result always draws the same
picture. Discs are packed in rows, strongest cluster first. Colour is the cluster,
radius grows with the square root of the account's volume."""

import math
from dataclasses import dataclass, field

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#c9a227",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#6b6ecf",
)
GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))
MAX_CLUSTERS = 20
MAX_NODES_PER_CLUSTER = 300
MAX_EDGES = 1500
MIN_R, MAX_R = 3.0, 11.0
LABEL_H = 34
GAP = 28


@dataclass
class Graph:
    width: int
    height: int
    clusters: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    nodes_drawn: int = 0
    nodes_total: int = 0
    edges_total: int = 0
    clusters_total: int = 0


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _disc(members: list[tuple[str, int]], vmax: int) -> tuple[list[dict], float]:
    """Positions around (0, 0) and the disc radius."""
    radii = [
        MIN_R + (MAX_R - MIN_R) * math.sqrt(v / vmax) if vmax else MIN_R
        for _, v in members
    ]
    spacing = 1.7 * (sum(radii) / len(radii)) + 2.5
    nodes, extent = [], 0.0
    for i, ((account, volume), r) in enumerate(zip(members, radii, strict=True)):
        distance = spacing * math.sqrt(i + 0.5) if len(members) > 1 else 0.0
        angle = i * GOLDEN_ANGLE
        x, y = distance * math.cos(angle), distance * math.sin(angle)
        extent = max(extent, distance + r)
        nodes.append(
            {"id": account, "x": x, "y": y, "r": round(r, 1), "volume": volume}
        )
    return nodes, extent + 6


def graph_layout(
    result: dict,
    *,
    only: str | None = None,
    width: int = 1100,
    link=None,
) -> Graph | None:
    """The drawing of `result`'s clusters (or only cluster `only`); None when there is
    no cluster. `link(cluster_id)` gives each disc's URL."""
    clusters = list((result or {}).get("clusters") or [])
    if only is not None:
        clusters = [c for c in clusters if c.get("id") == only]
    if not clusters:
        return None
    volumes = {
        a.get("account_id"): int(a.get("volume") or 0)
        for a in result.get("accounts") or []
    }
    shown = clusters[:MAX_CLUSTERS]
    members = {
        c["id"]: sorted(
            ((str(a), volumes.get(a, 0)) for a in c.get("accounts") or []),
            key=lambda m: (-m[1], m[0]),
        )
        for c in shown
    }
    vmax = max((v for ms in members.values() for _, v in ms), default=0)
    graph = Graph(width=width, height=0, clusters_total=len(clusters))

    discs = []
    for index, cluster in enumerate(shown):
        drawn = members[cluster["id"]][:MAX_NODES_PER_CLUSTER]
        nodes, radius = _disc(drawn, vmax)
        discs.append((index, cluster, nodes, radius))
        graph.nodes_total += len(members[cluster["id"]])
        graph.nodes_drawn += len(drawn)

    # Shelf packing: left to right, a new row when the next disc does not fit; each
    # row is centred.
    rows: list[list] = [[]]
    used: float = GAP
    for disc in discs:
        diameter = 2 * disc[3]
        if rows[-1] and used + diameter + GAP > width:
            rows.append([])
            used = GAP
        rows[-1].append(disc)
        used += diameter + GAP
    y = 12.0
    positions: dict[str, tuple[float, float, str, str]] = {}
    for row in rows:
        row_width = sum(2 * d[3] for d in row) + GAP * (len(row) - 1)
        x = (width - row_width) / 2
        height = max(2 * d[3] for d in row)
        for index, cluster, nodes, radius in row:
            cx, cy = x + radius, y + LABEL_H + height / 2
            fill = colour(index)
            for node in nodes:
                node["x"], node["y"] = (
                    round(cx + node["x"], 1),
                    round(cy + node["y"], 1),
                )
                positions[node["id"]] = (node["x"], node["y"], fill, cluster["id"])
            size = len(members[cluster["id"]])
            graph.clusters.append(
                {
                    "id": cluster["id"],
                    "colour": fill,
                    "nodes": nodes,
                    "label_x": round(cx, 1),
                    "label_y": round(y + 14, 1),
                    "cx": round(cx, 1),
                    "cy": round(cy, 1),
                    "radius": round(radius, 1),
                    "label": f"{cluster['id']} · {size:,} account{'' if size == 1 else 's'}",
                    "sub": f"{int(cluster.get('volume') or 0):,} requests",
                    "more": size - len(nodes),
                    "url": link(cluster["id"]) if link else None,
                }
            )
            x += 2 * radius + GAP
        y += LABEL_H + height + GAP
    graph.height = int(math.ceil(y))
    graph.edges, graph.edges_total = _edges(result.get("edges") or [], positions)
    return graph


def _edges(edges: list[dict], positions: dict) -> tuple[list[dict], int]:
    """The strongest edges between drawn accounts: every account keeps its strongest
    one, and each cluster gets a share of MAX_EDGES in proportion to its drawn members
    (so small clusters are drawn whole). Stroke width and opacity follow the weight."""
    inside = [e for e in edges if e.get("a") in positions and e.get("b") in positions]
    if not inside:
        return [], 0
    ranked = sorted(
        inside, key=lambda e: (-float(e.get("weight") or 0), str(e["a"]), str(e["b"]))
    )
    best: dict[str, int] = {}
    for index, edge in enumerate(ranked):
        for end in (edge["a"], edge["b"]):
            best.setdefault(end, index)
    chosen = set(best.values())
    nodes_in: dict[str, int] = {}
    for _, _, _, cluster in positions.values():
        nodes_in[cluster] = nodes_in.get(cluster, 0) + 1
    budget = {
        cluster: max(1, MAX_EDGES * count // len(positions))
        for cluster, count in nodes_in.items()
    }
    for index in chosen:
        budget[positions[ranked[index]["a"]][3]] -= 1
    for index, edge in enumerate(ranked):
        cluster = positions[edge["a"]][3]
        if index not in chosen and budget[cluster] > 0:
            chosen.add(index)
            budget[cluster] -= 1
    top = float(ranked[0].get("weight") or 1) or 1
    drawn = []
    for index in sorted(chosen):
        edge = ranked[index]
        ax, ay, fill, _ = positions[edge["a"]]
        bx, by, _, _ = positions[edge["b"]]
        share = max(0.0, min(1.0, float(edge.get("weight") or 0) / top))
        drawn.append(
            {
                "x1": ax,
                "y1": ay,
                "x2": bx,
                "y2": by,
                "colour": fill,
                "width": round(0.4 + 1.6 * share, 2),
                "opacity": round(0.12 + 0.45 * share, 2),
                "title": f"{edge['a']} — {edge['b']}: "
                + "; ".join(edge.get("reasons") or [])[:300],
            }
        )
    return drawn, len(inside)
