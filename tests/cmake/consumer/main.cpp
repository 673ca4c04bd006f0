#include <churn/reader.hpp>
#include <churn/version.hpp>

#include <iostream>

int main() {
  std::size_t n = 0;
  churn::read_buffer("{\"ts\":1,\"page\":\"Home\"}\n{\"ts\":2,\"page\":\"NextSong\"}\n",
                     [&](const churn::event& e) { n += e.page == churn::page::next_song; });
  std::cout << "churn " << churn::version << " read " << n << " song\n";
  return n == 1 ? 0 : 1;
}
