// 16550A UART register layout (National Semiconductor PC16550D data sheet, Table II).
#pragma once

#include <cstdint>

namespace hvsim::uart16550 {

/// Register offsets from the base port. With LCR.DLAB set, offsets 0/1 are the divisor.
enum class Reg : uint8_t {
  kRbrThrDll = 0,  ///< receive buffer (read) / transmit holding (write) / divisor low
  kIerDlm = 1,     ///< interrupt enable / divisor high
  kIirFcr = 2,     ///< interrupt identification (read) / FIFO control (write)
  kLcr = 3,        ///< line control
  kMcr = 4,        ///< modem control
  kLsr = 5,        ///< line status
  kMsr = 6,        ///< modem status
  kScr = 7,        ///< scratch
};

constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrThrEmpty = 0x20;  ///< THRE: kernels poll this before each byte
constexpr uint8_t kLsrTransmitterEmpty = 0x40;
constexpr uint8_t kIerRxAvailable = 0x01;
constexpr uint8_t kIerThrEmpty = 0x02;
constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirRxAvailable = 0x04;
constexpr uint8_t kIirFifosEnabled = 0xC0;
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;

}  // namespace hvsim::uart16550
