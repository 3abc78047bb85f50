#include "graph.h"

#include <algorithm>
#include <limits>

namespace mlff {

int64_t Graph::edge_evaluations(int num_layers) const {
  if (layer_edges.empty()) return num_layers * num_edges();
  int64_t sum = 0;
  for (const int64_t edges : layer_edges) sum += edges;
  return sum;
}

void Graph::clear_edges() {
  ++generation;
  centers.clear();
  neighbors.clear();
  edge_vec.clear();
}

void spread_to_atoms(const Graph& graph, const double* node_values, int width, int n_atoms,
                     std::vector<double>& atom_values) {
  atom_values.assign(static_cast<size_t>(n_atoms) * width, 0.0);
  for (int64_t k = 0; k < graph.n_nodes; ++k)
    std::copy(node_values + k * width, node_values + (k + 1) * width,
              atom_values.begin() + static_cast<int64_t>(graph.node_atom[k]) * width);
}

void gather_from_atoms(const Graph& graph, const double* atom_values, int width,
                       double* node_values) {
  for (int64_t k = 0; k < graph.n_nodes; ++k) {
    const double* row = atom_values + static_cast<int64_t>(graph.node_atom[k]) * width;
    std::copy(row, row + width, node_values + k * width);
  }
}

namespace {

void append_edges(const NeighborLists& nl, double cutoff, const std::vector<int>* owner,
                  Graph& graph) {
  const double cutoff_sq = cutoff * cutoff;
  for (int c = 0; c < nl.n_centers; ++c) {
    const int i = nl.centers[c];
    if (owner && i >= nl.n_local && (*owner)[i] >= 0) continue;  // an image: its owner's edges
    if (nl.excluded && nl.excluded[i]) continue;
    const double* xi = nl.positions + 3 * static_cast<int64_t>(i);
    const int* list = nl.lists[i];
    for (int k = 0; k < nl.counts[i]; ++k) {
      const int j = list[k] & nl.index_mask;
      if (nl.excluded && nl.excluded[j]) continue;
      const double* xj = nl.positions + 3 * static_cast<int64_t>(j);
      const double dx = xj[0] - xi[0], dy = xj[1] - xi[1], dz = xj[2] - xi[2];
      const double r_sq = dx * dx + dy * dy + dz * dz;
      if (r_sq >= cutoff_sq) continue;
      if (r_sq < graph.closest_sq) {
        graph.closest_sq = r_sq;
        graph.closest_atoms[0] = i;
        graph.closest_atoms[1] = j;
      }
      graph.centers.push_back(i);
      graph.neighbors.push_back(owner && (*owner)[j] >= 0 ? (*owner)[j] : j);
      graph.edge_vec.insert(graph.edge_vec.end(), {dx, dy, dz});
    }
  }
}

// Keeps the edges whose center lies within num_layers-1 hops of an owned atom, sorted by that
// hop count (stable), and records how many of them each layer needs.
void prune_to_receptive_field(int n_atoms, int n_local, int num_layers, Graph& graph) {
  const int64_t n_edges = graph.num_edges();
  const int unreached = num_layers;  // any depth >= num_layers is never needed as a center
  std::vector<int> hops(n_atoms, unreached);
  std::fill(hops.begin(), hops.begin() + n_local, 0);
  // Breadth-first over the edge list, one sweep per hop: edges are few passes' worth of work.
  for (int depth = 0; depth + 1 < num_layers; ++depth)
    for (int64_t e = 0; e < n_edges; ++e)
      if (hops[graph.centers[e]] == depth && hops[graph.neighbors[e]] > depth + 1)
        hops[graph.neighbors[e]] = depth + 1;

  // counting sort by hop: start[h] is where the edges of centers h hops away begin
  std::vector<int64_t> start(num_layers + 1, 0);
  for (int64_t e = 0; e < n_edges; ++e) {
    const int h = hops[graph.centers[e]];
    if (h < num_layers) ++start[h + 1];
  }
  for (int h = 0; h < num_layers; ++h) start[h + 1] += start[h];
  const int64_t kept = start[num_layers];
  std::vector<int64_t> centers(kept), neighbors(kept);
  std::vector<double> edge_vec(3 * kept);
  for (int64_t e = 0; e < n_edges; ++e) {
    const int h = hops[graph.centers[e]];
    if (h >= num_layers) continue;
    const int64_t to = start[h]++;
    centers[to] = graph.centers[e];
    neighbors[to] = graph.neighbors[e];
    for (int k = 0; k < 3; ++k) edge_vec[3 * to + k] = graph.edge_vec[3 * e + k];
  }
  graph.centers.swap(centers);
  graph.neighbors.swap(neighbors);
  graph.edge_vec.swap(edge_vec);
  // after the scatter start[h] is the end of hop h's edges
  graph.layer_edges.resize(num_layers);
  for (int layer = 0; layer < num_layers; ++layer)
    graph.layer_edges[layer] = start[num_layers - 1 - layer];
}

// Renumbers the nodes: the owned atoms in the graph in atom order, then the ghosts in it
// (only those some edge touches with `touched_only`: the others are images folded away).
void number_nodes(const NeighborLists& nl, bool touched_only, Graph& graph) {
  constexpr int kKept = -2;
  const int n_local = nl.n_local, n_atoms = nl.n_total;
  const auto in_graph = [&nl](int a) { return !(nl.excluded && nl.excluded[a]); };
  std::vector<int> node_of(n_atoms, -1);
  graph.node_atom.clear();
  for (int i = 0; i < n_local; ++i)
    if (in_graph(i)) {
      node_of[i] = static_cast<int>(graph.node_atom.size());
      graph.node_atom.push_back(i);
    }
  graph.n_local = static_cast<int64_t>(graph.node_atom.size());
  if (touched_only) {
    for (const auto* ends : {&graph.centers, &graph.neighbors})
      for (auto a : *ends)
        if (a >= n_local) node_of[a] = kKept;
  } else {
    for (int a = n_local; a < n_atoms; ++a)
      if (in_graph(a)) node_of[a] = kKept;
  }
  for (int a = n_local; a < n_atoms; ++a)
    if (node_of[a] == kKept) {
      node_of[a] = static_cast<int>(graph.node_atom.size());
      graph.node_atom.push_back(a);
    }
  for (auto& c : graph.centers) c = node_of[c];
  for (auto& n : graph.neighbors) n = node_of[n];
  graph.n_nodes = static_cast<int64_t>(graph.node_atom.size());
}

}  // namespace

void build_graph(const NeighborLists& lists, double cutoff, int prune_layers,
                 const std::vector<int>* owner, Graph& graph) {
  graph.clear_edges();
  graph.layer_edges.clear();
  graph.closest_sq = std::numeric_limits<double>::infinity();
  graph.closest_atoms[0] = graph.closest_atoms[1] = -1;
  graph.n_local = lists.n_local;
  graph.n_nodes = lists.n_total;
  append_edges(lists, cutoff, owner, graph);
  if (prune_layers > 0) prune_to_receptive_field(lists.n_total, lists.n_local, prune_layers, graph);
  if (owner || lists.excluded) {
    number_nodes(lists, owner != nullptr, graph);
  } else {  // every atom is a node, in order
    graph.node_atom.resize(lists.n_total);
    for (int a = 0; a < lists.n_total; ++a) graph.node_atom[a] = a;
  }
}

}  // namespace mlff
