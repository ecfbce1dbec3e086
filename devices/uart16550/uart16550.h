// 16550A UART (COM port): transmit to a host sink, receive from a host-fed queue.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "core/io_bus.h"
#include "devices/device.h"

namespace hvsim {

/// Parameters of a 16550 UART.
struct Uart16550Params {
  std::string name = "com1";   ///< device name
  uint16_t base_port = 0x3F8;  ///< first of 8 ports
};

/// A 16550A with an always-ready transmitter: every byte written to THR goes to the
/// output sink at once, and LSR always reports THRE and TEMT. Received bytes come from
/// `receive()` (host input, e.g. from Python) and are read through RBR with LSR.DR.
/// Interrupts are modelled in IIR only; there is no interrupt controller yet.
class Uart16550 : public Device, public PortIoHandler {
 public:
  using Sink = std::function<void(uint8_t)>;
  explicit Uart16550(const Uart16550Params& params = {});

  /// Where transmitted bytes go (stdout, a file, a Python buffer). Not guest state.
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  /// Queues bytes for the guest to read.
  void receive(const std::string& bytes);
  uint16_t base_port() const { return params_.base_port; }

  std::string_view name() const override { return params_.name; }
  PortIoHandler* port_io() override { return this; }
  void reset() override;
  void save(StateWriter& w) const override;
  void restore(StateReader& r) override;
  void inspect(InspectNode& node) const override;
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;

 private:
  uint8_t iir() const;
  void transmit(uint8_t byte);
  Uart16550Params params_;
  Sink sink_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
  uint16_t divisor_ = 12;      // 9600 baud from 1.8432 MHz
  bool thre_pending_ = false;  // THR-empty interrupt not yet acknowledged by an IIR read
  uint64_t tx_bytes_ = 0, rx_bytes_ = 0;
};

}  // namespace hvsim
