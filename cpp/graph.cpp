#include "graph.h"

namespace mlff {

void Graph::clear_edges() {
  centers.clear();
  neighbors.clear();
  edge_vec.clear();
}

void append_edges(const double* positions, const int* center_ids, int n_centers,
                  const int* counts, int* const* lists, int index_mask, double cutoff,
                  Graph& graph) {
  const double cutoff_sq = cutoff * cutoff;
  for (int c = 0; c < n_centers; ++c) {
    const int i = center_ids[c];
    const double* xi = positions + 3 * static_cast<int64_t>(i);
    const int* list = lists[i];
    for (int k = 0; k < counts[i]; ++k) {
      const int j = list[k] & index_mask;
      const double* xj = positions + 3 * static_cast<int64_t>(j);
      const double dx = xj[0] - xi[0], dy = xj[1] - xi[1], dz = xj[2] - xi[2];
      if (dx * dx + dy * dy + dz * dz >= cutoff_sq) continue;
      graph.centers.push_back(i);
      graph.neighbors.push_back(j);
      graph.edge_vec.insert(graph.edge_vec.end(), {dx, dy, dz});
    }
  }
}

}  // namespace mlff
